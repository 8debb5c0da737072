package readstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"crm/graph/access"
	"crm/graph/model"
)

// The batch reads below take many ids and answer one entry per id, nil
// where no visible row has that id; order follows ids. They back the
// loaders, and serve single lookups (one id) as well. Customers,
// appointments and deals are read within the caller's scope
// (access.From(ctx)): a row it does not see answers nil, as a missing one.

// CustomersByID returns the registered customers with these ids.
func (s *Store) CustomersByID(ctx context.Context, ids []string) ([]*model.Customer, error) {
	sql, args := scoped(`SELECT `+customerCols+` FROM `+s.customers+` WHERE registered AND id = ANY($1)`,
		[]any{ids}, access.From(ctx).CustomerRows())
	got, err := collect(ctx, s.db, scanCustomer, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("customers by id: %w", err)
	}
	return inOrder(ids, redact(ctx, got), func(c *model.Customer) string { return c.ID }), nil
}

// redact blanks the personal data of customers the caller's scope may not
// see it of. The gateway refuses a selection of those fields to such a
// scope before anything runs (graph/access Personal); this is the second
// line, so that no path hands them out.
func redact(ctx context.Context, cs []*model.Customer) []*model.Customer {
	if access.From(ctx).Personal() {
		return cs
	}
	for _, c := range cs {
		c.Email, c.Phone, c.Address = "", nil, nil
	}
	return cs
}

// Team returns the ids of the salespeople whose manager is managerID
// (access.Team).
func (s *Store) Team(ctx context.Context, managerID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM `+s.salespeople+` WHERE manager_id = $1`, managerID)
	if err != nil {
		return nil, fmt.Errorf("team of %s: %w", managerID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("team of %s: %w", managerID, err)
	}
	return ids, nil
}

// SalespeopleByID returns the salespeople with these ids.
func (s *Store) SalespeopleByID(ctx context.Context, ids []string) ([]*model.Salesperson, error) {
	got, err := collect(ctx, s.db, scanSalesperson, s.salespeopleByIDSQL(), ids)
	if err != nil {
		return nil, fmt.Errorf("salespeople by id: %w", err)
	}
	return inOrder(ids, got, func(p *model.Salesperson) string { return p.ID }), nil
}

// AppointmentsByID returns the registered appointments with these ids.
func (s *Store) AppointmentsByID(ctx context.Context, ids []string) ([]*model.Appointment, error) {
	sql, args := s.appointmentsByIDSQL(ctx, ids)
	got, err := collect(ctx, s.db, scanAppointment, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("appointments by id: %w", err)
	}
	return inOrder(ids, got, func(a *model.Appointment) string { return a.ID }), nil
}

// CampaignsByID returns the campaigns with these ids.
func (s *Store) CampaignsByID(ctx context.Context, ids []string) ([]*model.Campaign, error) {
	got, err := collect(ctx, s.db, scanCampaign,
		`SELECT `+campaignCols+` FROM `+s.campaigns+` WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("campaigns by id: %w", err)
	}
	return inOrder(ids, got, func(c *model.Campaign) string { return c.ID }), nil
}

// DealsByID returns the deals with these ids.
func (s *Store) DealsByID(ctx context.Context, ids []string) ([]*model.Deal, error) {
	sql, args := scoped(`SELECT `+dealCols+` FROM `+s.deals+` WHERE id = ANY($1)`, []any{ids},
		access.From(ctx).DealRows(s.customers))
	got, err := collect(ctx, s.db, scanDeal, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("deals by id: %w", err)
	}
	return inOrder(ids, got, func(d *model.Deal) string { return d.ID }), nil
}

// DealsByCustomer returns, per customer id, that customer's deals in
// creation order (an empty list when none).
func (s *Store) DealsByCustomer(ctx context.Context, customerIDs []string) ([][]*model.Deal, error) {
	sql, args := s.dealsByCustomerSQL(ctx, customerIDs)
	got, err := collect(ctx, s.db, scanDeal, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("deals by customer: %w", err)
	}
	return grouped(customerIDs, got, func(d *model.Deal) string { return d.CustomerID }), nil
}

// DealsByCampaign returns, per campaign id, its deals in creation order.
func (s *Store) DealsByCampaign(ctx context.Context, campaignIDs []string) ([][]*model.Deal, error) {
	sql, args := scoped(`SELECT `+dealCols+` FROM `+s.deals+` WHERE campaign_id = ANY($1)`, []any{campaignIDs},
		access.From(ctx).DealRows(s.customers))
	got, err := collect(ctx, s.db, scanDeal, sql+` ORDER BY seq, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("deals by campaign: %w", err)
	}
	return grouped(campaignIDs, got, func(d *model.Deal) string {
		if d.CampaignID == nil {
			return ""
		}
		return *d.CampaignID
	}), nil
}

// Salespeople lists salespeople, of one role when role is not nil, in
// registration order.
func (s *Store) Salespeople(ctx context.Context, role *model.SalespersonRole) ([]*model.Salesperson, error) {
	var r *string
	if role != nil {
		v := string(*role)
		r = &v
	}
	got, err := collect(ctx, s.db, scanSalesperson, `SELECT `+salespersonCols+` FROM `+s.salespeople+`
		WHERE ($1::text IS NULL OR role = $1) ORDER BY seq, id`, r)
	if err != nil {
		return nil, fmt.Errorf("list salespeople: %w", err)
	}
	return nonNil(got), nil
}

// Campaigns lists campaigns, of one status when status is not nil, in
// creation order.
func (s *Store) Campaigns(ctx context.Context, status *model.CampaignStatus) ([]*model.Campaign, error) {
	var st *string
	if status != nil {
		v := string(*status)
		st = &v
	}
	got, err := collect(ctx, s.db, scanCampaign, `SELECT `+campaignCols+` FROM `+s.campaigns+`
		WHERE ($1::text IS NULL OR status = $1) ORDER BY seq, id`, st)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return nonNil(got), nil
}

func inOrder[T any](ids []string, got []*T, id func(*T) string) []*T {
	byID := make(map[string]*T, len(got))
	for _, v := range got {
		byID[id(v)] = v
	}
	out := make([]*T, len(ids))
	for i, k := range ids {
		out[i] = byID[k]
	}
	return out
}

func grouped[T any](keys []string, got []*T, key func(*T) string) [][]*T {
	by := make(map[string][]*T, len(keys))
	for _, v := range got {
		by[key(v)] = append(by[key(v)], v)
	}
	out := make([][]*T, len(keys))
	for i, k := range keys {
		out[i] = nonNil(by[k])
	}
	return out
}

func nonNil[T any](s []*T) []*T {
	if s == nil {
		return []*T{}
	}
	return s
}

// The statements shared by the batch reads and CustomerRelations.
func (s *Store) salespeopleByIDSQL() string {
	return `SELECT ` + salespersonCols + ` FROM ` + s.salespeople + ` WHERE id = ANY($1)`
}

func (s *Store) appointmentsByIDSQL(ctx context.Context, ids []string) (string, []any) {
	return scoped(`SELECT `+appointmentCols+` FROM `+s.appointments+` WHERE registered AND id = ANY($1)`,
		[]any{ids}, access.From(ctx).AppointmentRows())
}

func (s *Store) dealsByCustomerSQL(ctx context.Context, customerIDs []string) (string, []any) {
	sql, args := scoped(`SELECT `+dealCols+` FROM `+s.deals+` WHERE customer_id = ANY($1)`, []any{customerIDs},
		access.From(ctx).DealRows(s.customers))
	return sql + ` ORDER BY seq, id`, args
}

// RelationKeys asks for the related rows of a set of customers.
type RelationKeys struct {
	Salespeople  []string // salespeople by id
	Appointments []string // registered appointments by id
	DealsOf      []string // deals by customer id
}

// Relations answers RelationKeys: rows by id (missing ids absent) and
// deals grouped by customer id in creation order.
type Relations struct {
	Salespeople  map[string]*model.Salesperson
	Appointments map[string]*model.Appointment
	Deals        map[string][]*model.Deal
}

// CustomerRelations reads the related rows of a page of customers in one
// round trip: the statements of SalespeopleByID, AppointmentsByID and
// DealsByCustomer for the non-empty key sets, pipelined in one batch.
func (s *Store) CustomerRelations(ctx context.Context, k RelationKeys) (*Relations, error) {
	out := &Relations{}
	b := &pgx.Batch{}
	if len(k.Salespeople) > 0 {
		out.Salespeople = make(map[string]*model.Salesperson, len(k.Salespeople))
		queue(b, scanSalesperson, func(p *model.Salesperson) { out.Salespeople[p.ID] = p },
			s.salespeopleByIDSQL(), k.Salespeople)
	}
	if len(k.Appointments) > 0 {
		out.Appointments = make(map[string]*model.Appointment, len(k.Appointments))
		sql, args := s.appointmentsByIDSQL(ctx, k.Appointments)
		queue(b, scanAppointment, func(a *model.Appointment) { out.Appointments[a.ID] = a }, sql, args...)
	}
	if len(k.DealsOf) > 0 {
		out.Deals = make(map[string][]*model.Deal, len(k.DealsOf))
		sql, args := s.dealsByCustomerSQL(ctx, k.DealsOf)
		queue(b, scanDeal, func(d *model.Deal) { out.Deals[d.CustomerID] = append(out.Deals[d.CustomerID], d) }, sql, args...)
	}
	if b.Len() == 0 {
		return out, nil
	}
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("customer relations: %w", err)
	}
	return out, nil
}

// queue adds a statement to b whose rows are scanned and handed to add.
func queue[T any](b *pgx.Batch, scan func(pgx.Row) (T, error), add func(T), sql string, args ...any) {
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			add(v)
		}
		return rows.Err()
	})
}
