// Package readstore is the gateway's read access to the read models: SQL
// against the projections' tables in one schema (normally "read"; a test or
// a rebuild check passes another), returning graph/model structs, and the
// per-request batched loaders that nested GraphQL fields go through.
//
// Only rows the owning area has registered are visible: a customer or
// appointment row that another area's event created early stays hidden
// until its registering event arrives.
//
// Customers, appointments and deals are read within the caller's scope
// (crm/graph/access, carried in the context): its predicate is part of
// each statement's WHERE, so pages, counts and cursors hold only rows it
// may see. A context without a scope sees none of them.
package readstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/graph/model"
)

// Querier is what the store needs of a pool (pgxpool.Pool satisfies it).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var _ Querier = (*pgxpool.Pool)(nil)

// Config configures a Store.
type Config struct {
	// DB is the read database (required).
	DB Querier
	// Schema holds the read tables; default "read".
	Schema string
}

func (c *Config) setDefaults() {
	if c.Schema == "" {
		c.Schema = "read"
	}
}

// Validate reports a missing DB.
func (c Config) Validate() error {
	if c.DB == nil {
		return errors.New("readstore: Config.DB is required")
	}
	return nil
}

// Store reads the read models. It is safe for concurrent use.
type Store struct {
	db Querier
	// Qualified table names, e.g. "read"."customers".
	customers, salespeople, appointments, campaigns, deals, events string
}

// New returns a Store; the error says which Config field is wrong.
func New(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := func(t string) string { return pgx.Identifier{cfg.Schema, t}.Sanitize() }
	return &Store{db: cfg.DB,
		customers: q("customers"), salespeople: q("salespeople"), appointments: q("appointments"),
		campaigns: q("campaigns"), deals: q("deals"), events: q("events")}, nil
}

// Ping checks that the read database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping read database: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------- columns

const customerCols = `id, COALESCE(name, ''), COALESCE(email, ''), phone, street, city, postal_code, country,
	COALESCE(status, 'ACTIVE'), version, COALESCE(created_at, 'epoch'), COALESCE(updated_at, created_at, 'epoch'),
	sales_rep_id, manager_id, interests, products, upcoming_appointment_count, next_appointment_id,
	open_deal_count, won_totals, COALESCE(seq, 0)`

func scanCustomer(row pgx.Row) (*model.Customer, error) {
	var c model.Customer
	var a model.Address
	var status string
	var totals []byte
	err := row.Scan(&c.ID, &c.Name, &c.Email, &c.Phone, &a.Street, &a.City, &a.PostalCode, &a.Country,
		&status, &c.Version, &c.CreatedAt, &c.UpdatedAt, &c.SalesRepID, &c.ManagerID, &c.Interests, &c.Products,
		&c.UpcomingAppointmentCount, &c.NextAppointmentID, &c.OpenDealCount, &totals, &c.Seq)
	if err != nil {
		return nil, err
	}
	if a.Street != nil || a.City != nil || a.PostalCode != nil || a.Country != nil {
		c.Address = &a
	}
	c.Status = model.CustomerStatus(status)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if c.Interests == nil {
		c.Interests = []string{}
	}
	if c.Products == nil {
		c.Products = []string{}
	}
	if c.WonDealTotal, err = moneyList(totals); err != nil {
		return nil, fmt.Errorf("customer %s won_totals: %w", c.ID, err)
	}
	return &c, nil
}

const salespersonCols = `id, COALESCE(name, ''), COALESCE(email, ''), COALESCE(role, 'SALES_REP'), manager_id,
	COALESCE(version, 0), COALESCE(created_at, 'epoch'), COALESCE(seq, 0)`

func scanSalesperson(row pgx.Row) (*model.Salesperson, error) {
	var p model.Salesperson
	var role string
	if err := row.Scan(&p.ID, &p.Name, &p.Email, &role, &p.ManagerID, &p.Version, &p.CreatedAt, &p.Seq); err != nil {
		return nil, err
	}
	p.Role = model.SalespersonRole(role)
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, nil
}

const appointmentCols = `id, COALESCE(customer_id, ''), customer_name, COALESCE(salesperson_id, ''), salesperson_name,
	COALESCE(starts_at, 'epoch'), COALESCE(ends_at, 'epoch'), COALESCE(location, ''), COALESCE(status, 'SCHEDULED'),
	cancellation_reason, notes, COALESCE(version, 0), COALESCE(seq, 0)`

func scanAppointment(row pgx.Row) (*model.Appointment, error) {
	var a model.Appointment
	var status string
	err := row.Scan(&a.ID, &a.CustomerID, &a.CustomerName, &a.SalespersonID, &a.SalespersonName,
		&a.StartsAt, &a.EndsAt, &a.Location, &status, &a.CancellationReason, &a.Notes, &a.Version, &a.Seq)
	if err != nil {
		return nil, err
	}
	a.Status = model.AppointmentStatus(status)
	a.StartsAt, a.EndsAt = a.StartsAt.UTC(), a.EndsAt.UTC()
	return &a, nil
}

const campaignCols = `id, COALESCE(name, ''), COALESCE(status, 'DRAFT'), starts_at, ends_at, COALESCE(offers, '[]'),
	COALESCE(open_deal_count, 0), COALESCE(won_totals, '{}'), COALESCE(version, 0), COALESCE(seq, 0)`

func scanCampaign(row pgx.Row) (*model.Campaign, error) {
	var c model.Campaign
	var status string
	var offers, totals []byte
	err := row.Scan(&c.ID, &c.Name, &status, &c.StartsAt, &c.EndsAt, &offers, &c.OpenDealCount, &totals, &c.Version, &c.Seq)
	if err != nil {
		return nil, err
	}
	c.Status = model.CampaignStatus(status)
	c.StartsAt, c.EndsAt = utcPtr(c.StartsAt), utcPtr(c.EndsAt)
	if err := json.Unmarshal(offers, &c.Offers); err != nil {
		return nil, fmt.Errorf("campaign %s offers: %w", c.ID, err)
	}
	if c.Offers == nil {
		c.Offers = []*model.Offer{}
	}
	for _, o := range c.Offers {
		o.ValidUntil = utcPtr(o.ValidUntil)
	}
	if c.WonDealTotal, err = moneyList(totals); err != nil {
		return nil, fmt.Errorf("campaign %s won_totals: %w", c.ID, err)
	}
	return &c, nil
}

// amount::text keeps the numeric exact (no float on the way).
const dealCols = `id, COALESCE(customer_id, ''), campaign_id, offer_id, sales_rep_id, COALESCE(product, ''),
	COALESCE(amount::text, '0'), COALESCE(currency, ''), COALESCE(stage, 'OPEN'), lost_reason, COALESCE(version, 0),
	COALESCE(seq, 0)`

func scanDeal(row pgx.Row) (*model.Deal, error) {
	var d model.Deal
	var amount, currency, stage string
	err := row.Scan(&d.ID, &d.CustomerID, &d.CampaignID, &d.OfferID, &d.SalesRepID, &d.Product,
		&amount, &currency, &stage, &d.LostReason, &d.Version, &d.Seq)
	if err != nil {
		return nil, err
	}
	d.Value = &model.Money{Amount: model.Decimal(amount), CurrencyCode: currency}
	d.Stage = model.DealStage(stage)
	return &d, nil
}

const eventCols = `area, position, id, stream_id, version, type, data, occurred_at, actor`

func scanEvent(row pgx.Row) (*model.Event, error) {
	var e model.Event
	var data []byte
	if err := row.Scan(&e.AreaName, &e.PositionNum, &e.ID, &e.StreamID, &e.Version, &e.Type, &data, &e.OccurredAt, &e.Actor); err != nil {
		return nil, err
	}
	e.Area = AreaOf(e.AreaName)
	e.Position = fmt.Sprint(e.PositionNum)
	e.Data = model.JSON(data)
	e.OccurredAt = e.OccurredAt.UTC()
	return &e, nil
}

// AreaOf maps an area's name as stored ("customers") to the GraphQL enum.
func AreaOf(name string) model.Area {
	switch name {
	case "customers", "CUSTOMERS":
		return model.AreaCustomers
	case "appointments", "APPOINTMENTS":
		return model.AreaAppointments
	case "relationships", "RELATIONSHIPS":
		return model.AreaRelationships
	case "campaigns", "CAMPAIGNS":
		return model.AreaCampaigns
	}
	return model.Area(name)
}

// moneyList turns {"EUR":"1250.00"} into Money entries sorted by currency,
// so that the answer does not depend on map order.
func moneyList(raw []byte) ([]*model.Money, error) {
	out := []*model.Money{}
	if len(raw) == 0 || string(raw) == "{}" { // most rows: skip the JSON decoder
		return out, nil
	}
	var m map[string]json.Number
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for cur, amt := range m {
		out = append(out, &model.Money{Amount: model.Decimal(amt.String()), CurrencyCode: cur})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CurrencyCode < out[j].CurrencyCode })
	return out, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// PlanEach returns ctx marking the by-id reads made with it to be planned
// for their values each time (an unnamed statement: pgx
// QueryExecModeCacheDescribe), not on the generic plan PostgreSQL keeps
// for a statement prepared on the connection. That plan is made for the
// table's size after five runs; for a read model that fills from empty it
// is a sequential scan, kept until autovacuum first analyzes the table,
// and a mutation's answer read read.customers whole while a bulk of
// registrations filled it. The gateway reads a mutation's entity and each
// change a subscription pushes so (docs/plans.md); queries keep the
// prepared statements, whose plans serve tables whose size the planner
// knows.
func PlanEach(ctx context.Context) context.Context {
	return context.WithValue(ctx, planEachKey{}, true)
}

type planEachKey struct{}

// collect runs a query and scans every row with scan.
func collect[T any](ctx context.Context, db Querier, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	if each, _ := ctx.Value(planEachKey{}).(bool); each {
		args = append([]any{pgx.QueryExecModeCacheDescribe}, args...)
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
