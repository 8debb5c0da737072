package plans

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/testenv"
	"crm/graph/access"
	"crm/graph/auth"
	"crm/graph/model"
	"crm/graph/readstore"
	"crm/projector"
	"crm/services/appointments"
	"crm/services/campaigns"
	"crm/services/kit"
)

// rows is the size every filled table gets; CRM_PLANS_ROWS changes it for
// a manual run (docs/plans.md has one at 1,000,000). CRM_PLANS_VERBOSE=1
// logs every statement's plan.
var rows = 100_000

func init() {
	if n, err := strconv.Atoi(os.Getenv("CRM_PLANS_ROWS")); err == nil && n > 0 {
		rows = n
	}
}

// fills fill the tables hot statements touch, one statement per table,
// rows in random physical order (as years of updates leave them: an index
// on an ever-growing key no longer matches the heap's order). A table not
// filled here is not checked: add a line when a statement starts using a
// table that grows.
var fills = []string{
	`INSERT INTO read.customers (id, registered, name, email, status, version, created_at, updated_at, sales_rep_id, manager_id, interests, products, seq)
	 SELECT 'cus_' || g, g % 50 <> 0, 'Name ' || g, 'c' || g || '@example.com', CASE WHEN g % 10 = 0 THEN 'ARCHIVED' ELSE 'ACTIVE' END,
	        3, now(), now(), 'sp_' || g % 1000, 'sp_' || g % 100, ARRAY['interest ' || g % 200], ARRAY['product ' || g % 50], g
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.customer_appointments (id, customer_id, starts_at, status)
	 SELECT 'apt_' || g, 'cus_' || g % 50000, now() + g * interval '1 minute', (ARRAY['SCHEDULED', 'CANCELLED', 'COMPLETED'])[g % 3 + 1]
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.customer_deals (id, customer_id, stage, amount, currency)
	 SELECT 'deal_' || g, 'cus_' || g % 50000, (ARRAY['OPEN', 'WON', 'LOST'])[g % 3 + 1], g % 1000, 'EUR'
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.appointments (id, registered, customer_id, customer_name, salesperson_id, salesperson_name, starts_at, ends_at, location, status, version, seq)
	 SELECT 'apt_' || g, true, 'cus_' || g % 50000, 'Name', 'sp_' || g % 1000, 'Rep', now() + g * interval '1 minute',
	        now() + g * interval '1 minute' + interval '1 hour', 'HQ', (ARRAY['SCHEDULED', 'CANCELLED', 'COMPLETED'])[g % 3 + 1], 1, g
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.appointment_names (id, name) SELECT 'cus_' || g, 'Name ' || g FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.salespeople (id, name, email, role, manager_id, version, created_at, seq)
	 SELECT 'sp_' || g, 'Rep ' || g, 'r' || g || '@example.com', CASE WHEN g % 10 = 0 THEN 'MANAGER' ELSE 'SALES_REP' END, 'sp_' || g % 100, 1, now(), g
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.campaigns (id, name, status, created_at, seq)
	 SELECT 'cmp_' || g, 'Campaign ' || g, (ARRAY['DRAFT', 'ACTIVE', 'ENDED'])[g % 3 + 1], now(), g FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.deals (id, customer_id, campaign_id, offer_id, sales_rep_id, product, amount, currency, stage, version, created_at, updated_at, seq)
	 SELECT 'deal_' || g, 'cus_' || g % 50000, 'cmp_' || g % 1000, 'off_' || g % 1000, 'sp_' || g % 1000, 'Product', g % 1000, 'EUR',
	        (ARRAY['OPEN', 'WON', 'LOST'])[g % 3 + 1], 1, now(), now(), g
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.events (area, position, id, stream_id, version, type, data, occurred_at)
	 SELECT 'fill', g, 'evt_' || g, 'cus_' || (g - 1) / 5, (g - 1) % 5 + 1, 'CustomerUpdated', '{}', now() - (($1 - g) * interval '1 second')
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO read.consumer_checkpoints (name, area, partition, position, through)
	 SELECT 'fill.' || g % 1000, 'area' || g / 1000, 0, g, g FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO campaigns.events (position, event_id, stream_id, version, type, data, metadata, recorded_at)
	 SELECT g, gen_random_uuid(), 'deal_' || (g - 1) / 5, (g - 1) % 5 + 1, 'DealOpened', '{}', '{}', now()
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO campaigns.idempotency (key, first_position, last_position, recorded_at)
	 SELECT 'openDeal:k' || g, g, g, now() FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO campaigns.deal_index (deal_id, customer_id, stage, position)
	 SELECT 'deal_' || g, 'cus_' || g % 50000, (ARRAY['OPEN', 'WON', 'LOST'])[g % 3 + 1], g FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO appointments.appointment_index (appointment_id, customer_id, salesperson_id, starts_at, ends_at, status, version, position)
	 SELECT 'apt_' || g, 'cus_' || g % 50000, 'sp_' || g % 1000, now() + g * interval '1 minute', now() + g * interval '1 minute' + interval '1 hour',
	        (ARRAY['SCHEDULED', 'CANCELLED', 'COMPLETED'])[g % 3 + 1], 1, g
	 FROM generate_series(1, $1) g ORDER BY random()`,
	`INSERT INTO appointments.replica (area, id, status, attrs, position)
	 SELECT 'customers', 'cus_' || g, 'ACTIVE', '{}', g FROM generate_series(1, $1) g ORDER BY random()`,
}

// listed are statements the test cannot drive through an exported API;
// keep them in step with their code (one line each).
var listed = []struct{ name, sql string }{
	{"appointments: upcoming of a customer (services/appointments/index.go)",
		`SELECT appointment_id FROM appointments.appointment_index WHERE customer_id = $1 AND status = 'SCHEDULED' AND starts_at > $2 ORDER BY starts_at, appointment_id`},
	{"campaigns: open deals of a customer (services/campaigns/index.go)",
		`SELECT deal_id FROM campaigns.deal_index WHERE customer_id = $1 AND stage = 'OPEN' AND deal_id > $2 ORDER BY deal_id LIMIT $3`},
	{"consumer: park (eventlog/consumer/store.go)",
		`INSERT INTO read.consumer_dead_letters (name, area, position, partition, event_id, stream_id, version, type, data, metadata, recorded_at, error, attempts, consumer_id)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`},
}

// projectorEvents are fed to a live projector.Runner (every projection
// through its consumers, from the areas' logs): one event of each type a
// projection handles. Add a line for a new event type.
var projectorEvents = []struct{ area, typ, stream, data string }{
	{"customers", "CustomerRegistered", "cus_p1", `{"customerId":"cus_p1","name":"Ada","email":"ada@example.com","phone":"1","address":{"city":"Oslo"},"registeredAt":"2026-01-01T00:00:00Z"}`},
	{"customers", "CustomerUpdated", "cus_p1", `{"customerId":"cus_p1","name":"Ada L","email":"ada@example.com","changed":["name"],"updatedAt":"2026-01-01T00:01:00Z"}`},
	{"customers", "CustomerRegistered", "cus_p2", `{"customerId":"cus_p2","name":"Bo","email":"bo@example.com","registeredAt":"2026-01-01T00:00:00Z"}`},
	{"customers", "CustomerArchived", "cus_p2", `{"customerId":"cus_p2","reason":"moved","archivedAt":"2026-01-01T00:02:00Z"}`},
	{"relationships", "SalespersonRegistered", "sp_p1", `{"salespersonId":"sp_p1","name":"Rex","email":"rex@example.com","role":"SALES_REP","registeredAt":"2026-01-01T00:00:00Z"}`},
	{"relationships", "AccountTeamAssigned", "acct_cus_p1", `{"customerId":"cus_p1","salesRepId":"sp_p1","assignedAt":"2026-01-01T00:00:00Z"}`},
	{"relationships", "InterestRecorded", "acct_cus_p1", `{"customerId":"cus_p1","interest":"Solar","interests":["Solar"],"recordedAt":"2026-01-01T00:00:00Z"}`},
	{"relationships", "InterestRemoved", "acct_cus_p1", `{"customerId":"cus_p1","interest":"Solar","interests":[],"removedAt":"2026-01-01T00:00:00Z"}`},
	{"relationships", "ProductAdded", "acct_cus_p1", `{"customerId":"cus_p1","dealId":"deal_p1","product":"Pump","products":["Pump"],"addedAt":"2026-01-01T00:00:00Z"}`},
	{"appointments", "AppointmentScheduled", "apt_p1", `{"appointmentId":"apt_p1","customerId":"cus_p1","salespersonId":"sp_p1","startsAt":"2030-01-01T10:00:00Z","endsAt":"2030-01-01T11:00:00Z","location":"HQ"}`},
	{"appointments", "AppointmentRescheduled", "apt_p1", `{"appointmentId":"apt_p1","customerId":"cus_p1","salespersonId":"sp_p1","startsAt":"2030-01-02T10:00:00Z","endsAt":"2030-01-02T11:00:00Z","location":"Cafe","previousStartsAt":"2030-01-01T10:00:00Z","previousEndsAt":"2030-01-01T11:00:00Z"}`},
	{"appointments", "AppointmentCancelled", "apt_p1", `{"appointmentId":"apt_p1","customerId":"cus_p1","salespersonId":"sp_p1","startsAt":"2030-01-02T10:00:00Z","endsAt":"2030-01-02T11:00:00Z","reason":"ill"}`},
	{"appointments", "AppointmentScheduled", "apt_p2", `{"appointmentId":"apt_p2","customerId":"cus_p1","salespersonId":"sp_p1","startsAt":"2020-01-01T10:00:00Z","endsAt":"2020-01-01T11:00:00Z","location":"HQ"}`},
	{"appointments", "AppointmentCompleted", "apt_p2", `{"appointmentId":"apt_p2","customerId":"cus_p1","salespersonId":"sp_p1","startsAt":"2020-01-01T10:00:00Z","endsAt":"2020-01-01T11:00:00Z","notes":"ok"}`},
	{"campaigns", "CampaignCreated", "cmp_p1", `{"campaignId":"cmp_p1","name":"Spring"}`},
	{"campaigns", "OfferAdded", "cmp_p1", `{"campaignId":"cmp_p1","offerId":"off_p1","product":"Pump","discountPercent":10}`},
	{"campaigns", "CampaignLaunched", "cmp_p1", `{"campaignId":"cmp_p1"}`},
	{"campaigns", "DealOpened", "deal_p1", `{"dealId":"deal_p1","customerId":"cus_p1","campaignId":"cmp_p1","offerId":"off_p1","product":"Pump","value":{"amount":"10.00","currencyCode":"EUR"}}`},
	{"campaigns", "DealWon", "deal_p1", `{"dealId":"deal_p1","customerId":"cus_p1","campaignId":"cmp_p1","offerId":"off_p1","product":"Pump","value":{"amount":"10.00","currencyCode":"EUR"}}`},
	{"campaigns", "DealOpened", "deal_p2", `{"dealId":"deal_p2","customerId":"cus_p1","product":"Battery","value":{"amount":"5.00","currencyCode":"EUR"}}`},
	{"campaigns", "DealLost", "deal_p2", `{"dealId":"deal_p2","customerId":"cus_p1","product":"Battery","value":{"amount":"5.00","currencyCode":"EUR"},"reason":"price"}`},
	{"campaigns", "CampaignEnded", "cmp_p1", `{"campaignId":"cmp_p1"}`},
}

// step drives one exported operation whose statements are captured.
// scanOK, when set, says why scanning a filled table is inherent to it
// (it lists or counts every row).
type step struct {
	name   string
	scanOK string
	run    func(ctx context.Context, e *env) error
}

func ptr[T any](v T) *T { return &v }

var steps = []step{
	{"readstore: customers by id", "", func(ctx context.Context, e *env) error {
		_, err := e.store.CustomersByID(ctx, []string{"cus_1", "cus_2"})
		return err
	}},
	{"readstore: salespeople, appointments, campaigns, deals by id", "", func(ctx context.Context, e *env) error {
		_, err1 := e.store.SalespeopleByID(ctx, []string{"sp_1"})
		_, err2 := e.store.AppointmentsByID(ctx, []string{"apt_1"})
		_, err3 := e.store.CampaignsByID(ctx, []string{"cmp_1"})
		_, err4 := e.store.DealsByID(ctx, []string{"deal_1"})
		_, err5 := e.store.DealsByCustomer(ctx, []string{"cus_1"})
		_, err6 := e.store.DealsByCampaign(ctx, []string{"cmp_1"})
		return errors.Join(err1, err2, err3, err4, err5, err6)
	}},
	{"readstore: customer relations (one batch)", "", func(ctx context.Context, e *env) error {
		_, err := e.store.CustomerRelations(ctx, readstore.RelationKeys{Salespeople: []string{"sp_1"}, Appointments: []string{"apt_1"}, DealsOf: []string{"cus_1"}})
		return err
	}},
	{"readstore: customers pages", "", func(ctx context.Context, e *env) error {
		var errs []error
		for _, q := range []readstore.CustomerQuery{{}, {Status: ptr(model.CustomerStatusActive)}, {SalesRepID: ptr("sp_1")},
			{Interest: ptr("interest 1")}, {TeamMemberID: ptr("sp_1")}, {Search: ptr("ada")}} {
			for _, p := range []readstore.Page{{First: 20}, {First: 100, After: 5000}} {
				_, _, err := e.store.Customers(ctx, q, p)
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}},
	{"readstore: customers totalCount by sales rep or team member", "", func(ctx context.Context, e *env) error {
		_, err1 := e.store.CountCustomers(ctx, readstore.CustomerQuery{SalesRepID: ptr("sp_1")})
		_, err2 := e.store.CountCustomers(ctx, readstore.CustomerQuery{TeamMemberID: ptr("sp_1")})
		return errors.Join(err1, err2)
	}},
	{"readstore: customers totalCount of everyone, by status, interest or search", "counts what matches in the whole table", func(ctx context.Context, e *env) error {
		var errs []error
		for _, q := range []readstore.CustomerQuery{{}, {Status: ptr(model.CustomerStatusArchived)}, {Interest: ptr("interest 1")}, {Search: ptr("ada")}} {
			_, err := e.store.CountCustomers(ctx, q)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}},
	{"readstore: appointments pages and counts by customer, salesperson, time", "", func(ctx context.Context, e *env) error {
		from, to := time.Now(), time.Now().Add(24*time.Hour)
		var errs []error
		for _, q := range []readstore.AppointmentQuery{{}, {CustomerID: ptr("cus_1")}, {SalespersonID: ptr("sp_1")},
			{Status: ptr(model.AppointmentStatusScheduled)}, {From: &from, To: &to}} {
			_, _, err := e.store.Appointments(ctx, q, readstore.Page{First: 20})
			errs = append(errs, err)
		}
		for _, q := range []readstore.AppointmentQuery{{CustomerID: ptr("cus_1")}, {SalespersonID: ptr("sp_1")}, {From: &from, To: &to}} {
			_, err := e.store.CountAppointments(ctx, q)
			errs = append(errs, err)
		}
		_, err := e.store.CustomersAppointments(ctx, []string{"cus_1", "cus_2"}, 5)
		return errors.Join(append(errs, err)...)
	}},
	{"readstore: appointments totalCount of all or by status", "counts what matches in the whole table", func(ctx context.Context, e *env) error {
		_, err1 := e.store.CountAppointments(ctx, readstore.AppointmentQuery{})
		_, err2 := e.store.CountAppointments(ctx, readstore.AppointmentQuery{Status: ptr(model.AppointmentStatusScheduled)})
		return errors.Join(err1, err2)
	}},
	{"readstore: history and the event feed's reads", "", func(ctx context.Context, e *env) error {
		evs, _, err1 := e.store.History(ctx, "cus_1", 20, nil)
		var err2 error
		if len(evs) > 0 {
			_, _, err2 = e.store.History(ctx, "cus_1", 20, ptr(readstore.EventCursor(evs[0])))
		}
		_, err3 := e.store.EventsAfter(ctx, map[string]int64{"customers": 10, "appointments": 0, "relationships": 5, "campaigns": 1}, 256)
		_, err4 := e.store.ContiguousHead(ctx, "customers", 0)
		return errors.Join(err1, err2, err3, err4)
	}},
	{"readstore: the scope of a manager (graph/access predicates)", "", func(ctx context.Context, e *env) error {
		sc, err := access.Resolve(ctx, &auth.Principal{Role: auth.Manager, SalespersonID: "sp_10"}, e.store.Team)
		if err != nil {
			return err
		}
		ctx = access.WithScope(ctx, sc)
		var errs []error
		add := func(err error) { errs = append(errs, err) }
		_, err = e.store.CustomersByID(ctx, []string{"cus_1", "cus_2"})
		add(err)
		_, _, err = e.store.Customers(ctx, readstore.CustomerQuery{}, readstore.Page{First: 100})
		add(err)
		_, err = e.store.CountCustomers(ctx, readstore.CustomerQuery{})
		add(err)
		_, _, err = e.store.Appointments(ctx, readstore.AppointmentQuery{}, readstore.Page{First: 100})
		add(err)
		_, err = e.store.CountAppointments(ctx, readstore.AppointmentQuery{})
		add(err)
		_, err = e.store.CustomersAppointments(ctx, []string{"cus_1", "cus_2"}, 5)
		add(err)
		_, err = e.store.DealsByID(ctx, []string{"deal_1"})
		add(err)
		_, err = e.store.DealsByCampaign(ctx, []string{"cmp_1"})
		add(err)
		_, err = e.store.CustomerRelations(ctx, readstore.RelationKeys{Appointments: []string{"apt_1"}, DealsOf: []string{"cus_1"}})
		add(err)
		return errors.Join(errs...)
	}},
	{"readstore: salespeople and campaigns lists", "lists every row (no paging)", func(ctx context.Context, e *env) error {
		_, err1 := e.store.Salespeople(ctx, nil)
		_, err2 := e.store.Salespeople(ctx, ptr(model.SalespersonRoleManager))
		_, err3 := e.store.Campaigns(ctx, nil)
		_, err4 := e.store.Campaigns(ctx, ptr(model.CampaignStatusActive))
		return errors.Join(err1, err2, err3, err4)
	}},
	{"projector: status, read-your-writes checkpoint, checkpoints", "", func(ctx context.Context, e *env) error {
		_, err1 := projector.Status(ctx, e.pool, "read", projector.StatusOptions{}, projector.All()...)
		_, err2 := consumer.Waiter{Pool: e.pool, Schema: "read", Name: projector.ConsumerName("customers"), Area: "customers"}.Applied(ctx, 0, 1)
		_, err3 := consumer.Checkpoints(ctx, e.pool, "read", projector.ConsumerName("customers"), "customers")
		_, err4 := consumer.DeadLetters(ctx, e.pool, "read", projector.ConsumerName("customers"), "customers", 10)
		_, err5 := consumer.CountDeadLetters(ctx, e.pool, "read", projector.ConsumerName("customers"), "customers")
		return errors.Join(err1, err2, err3, err4, err5)
	}},
	{"eventlog: appends (exact and optimistic), lookup, reads; campaigns' inline deal index", "", func(ctx context.Context, e *env) error {
		l, err := eventlog.Open(ctx, eventlog.Config{Pool: e.pool, Schema: "campaigns", Inline: campaigns.Inline("campaigns")})
		if err != nil {
			return err
		}
		defer l.Close()
		opened := `{"dealId":"deal_x","customerId":"cus_1","product":"Pump","value":{"amount":"1.00","currencyCode":"EUR"}}`
		if _, err := l.Append(ctx, "deal_x", 0, eventlog.Metadata{IdempotencyKey: "openDeal:x"},
			eventlog.NewEvent{Type: "DealOpened", Data: json.RawMessage(opened)}); err != nil {
			return err
		}
		if _, err := l.Append(ctx, "deal_x", 1, eventlog.Metadata{IdempotencyKey: "winDeal:x"},
			eventlog.NewEvent{Type: "DealWon", Data: json.RawMessage(opened)}); err != nil {
			return err
		}
		_, _, err1 := l.Lookup(ctx, "openDeal:x")
		_, err2 := l.ReadLog(ctx, 5000, 100)
		_, err3 := l.ReadStream(ctx, "deal_x", 0, 100)
		_, err4 := l.Head(ctx)
		return errors.Join(err1, err2, err3, err4)
	}},
	{"eventlog: appointments' inline index", "", func(ctx context.Context, e *env) error {
		l, err := eventlog.Open(ctx, eventlog.Config{Pool: e.pool, Schema: "appointments", Inline: appointments.Inline("appointments")})
		if err != nil {
			return err
		}
		defer l.Close()
		_, err = l.Append(ctx, "apt_x", 0, eventlog.Metadata{}, eventlog.NewEvent{Type: "AppointmentScheduled", Data: json.RawMessage(
			`{"appointmentId":"apt_x","customerId":"cus_1","salespersonId":"sp_1","startsAt":"2030-01-01T10:00:00Z","endsAt":"2030-01-01T11:00:00Z","location":"HQ"}`)})
		return err
	}},
	{"kit: replica apply and lookup", "", func(ctx context.Context, e *env) error {
		r := kit.NewReplica(kit.ReplicaConfig{Pool: e.pool, Schema: "appointments", Source: "customers", Name: "appointments",
			Mapper: appointments.Replicas["customers"]})
		err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
			_, err := consumer.ApplyEvents(ctx, tx, r.Handler(), []eventlog.Event{{ID: "evt_r", StreamID: "cus_r", Version: 1,
				Position: int64(rows) + 1, Type: "CustomerRegistered", Data: json.RawMessage(`{"customerId":"cus_r"}`)}})
			return err
		})
		if err != nil {
			return err
		}
		_, _, err = r.Get(ctx, "cus_1", nil)
		return err
	}},
}

// env is what steps run against.
type env struct {
	pool  *pgxpool.Pool
	store *readstore.Store
}

// TestGenericPlansUseIndexes: see the package comment.
func TestGenericPlansUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+time.Duration(rows/100_000)*time.Minute)
	defer cancel()
	start := time.Now()
	rec := &recorder{}
	pcfg, err := pgxpool.ParseConfig(testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 4
	pcfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := projector.Migrate(ctx, pool, "read", projector.All()...); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		area string
		own  func(context.Context, *pgxpool.Pool, string) error
	}{{"appointments", appointments.Migrate}, {"campaigns", campaigns.Migrate}} {
		if err := kit.MigrateArea(ctx, pool, a.area, a.own); err != nil {
			t.Fatal(err)
		}
	}
	filled := fill(t, ctx, pool)
	t.Logf("filled %d tables with %d rows in %v", len(filled), rows, time.Since(start).Round(time.Millisecond))

	// Capture: the projector's and its consumers' statements, then every step's.
	rec.start("projector and consumers: " + fmt.Sprint(len(projectorEvents)) + " events through a live projector.Runner")
	runProjector(t, ctx, pool)
	store, err := readstore.New(readstore.Config{DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{pool: pool, store: store}
	for _, s := range steps {
		rec.start(s.name)
		// An admin's reads (graph/access.Everything); a step may narrow it.
		if err := s.run(access.WithScope(ctx, access.Everything()), e); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	rec.start("")
	captured := rec.statements()
	for _, l := range listed {
		captured = append(captured, statement{source: l.name, sql: l.sql})
	}

	// Explain each under the generic plan.
	conn, err := pgx.Connect(ctx, pcfg.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	scanOK := map[string]string{}
	for _, s := range steps {
		scanOK[s.name] = s.scanOK
	}
	checked, inherent := 0, 0
	for i, st := range captured {
		plan, err := genericPlan(ctx, conn, fmt.Sprintf("plan_%d", i), st.sql)
		if err != nil {
			t.Errorf("%s: %v\n%s", st.source, err, st.sql)
			continue
		}
		checked++
		if os.Getenv("CRM_PLANS_VERBOSE") != "" {
			t.Logf("%s: %s\n%s", st.source, oneLine(st.sql), planText(plan))
		}
		scans := seqScans(plan, filled)
		if len(scans) == 0 {
			continue
		}
		if why := scanOK[st.source]; why != "" {
			inherent++
			t.Logf("inherent scan (%s): %s\n%s", why, oneLine(st.sql), planText(plan))
			continue
		}
		t.Errorf("%s: generic plan scans %s sequentially:\n%s\nplan:\n%s", st.source, strings.Join(scans, ", "), st.sql, planText(plan))
	}
	t.Logf("%d statements explained (%d captured, %d listed), %d with an inherent scan; %v in all",
		checked, len(captured)-len(listed), len(listed), inherent, time.Since(start).Round(time.Millisecond))
}

// fill runs fills and ANALYZE and returns the filled tables (schema.table).
func fill(t *testing.T, ctx context.Context, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	filled := map[string]bool{}
	into := regexp.MustCompile(`^INSERT INTO (\w+\.\w+)`)
	var wg sync.WaitGroup
	errs := make(chan error, len(fills))
	sem := make(chan struct{}, 2)
	for _, f := range fills {
		m := into.FindStringSubmatch(strings.TrimSpace(f))
		if m == nil {
			t.Fatalf("fill without INSERT INTO schema.table: %s", f)
		}
		filled[m[1]] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := pool.Exec(ctx, f, rows); err != nil {
				errs <- fmt.Errorf("fill %s: %w", m[1], err)
				return
			}
			// Rows created later draw seq from the identity past the filled ones.
			var identity bool
			err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM information_schema.columns
				WHERE table_schema || '.' || table_name = $1 AND column_name = 'seq' AND is_identity = 'YES')`, m[1]).Scan(&identity)
			if err == nil && identity {
				_, err = pool.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'seq'), (SELECT max(seq) FROM `+m[1]+`))`, m[1])
			}
			if err != nil {
				errs <- fmt.Errorf("identity of %s: %w", m[1], err)
				return
			}
			if _, err := pool.Exec(ctx, "ANALYZE "+m[1]); err != nil {
				errs <- fmt.Errorf("analyze %s: %w", m[1], err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return filled
}

// runProjector feeds projectorEvents to a projector.Runner through log
// sources (every consumer group is new, so each partition catches up from
// its log) and waits until every consumer has applied them.
func runProjector(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	rdb, ns := testenv.Redis(t)
	logs := map[string]*memLog{}
	for _, a := range []string{"customers", "relationships", "appointments", "campaigns"} {
		logs[a] = &memLog{}
	}
	for i, pe := range projectorEvents {
		l := logs[pe.area]
		version := int64(1)
		for _, ev := range l.events {
			if ev.StreamID == pe.stream {
				version = ev.Version + 1
			}
		}
		l.events = append(l.events, eventlog.Event{ID: fmt.Sprintf("evt_p%d", i), StreamID: pe.stream, Version: version,
			Position: int64(len(l.events) + 1), Type: pe.typ, Data: json.RawMessage(pe.data), RecordedAt: time.Now().UTC()})
	}
	sources := map[string]consumer.LogSource{}
	for a, l := range logs {
		sources[a] = l
	}
	r, err := projector.New(projector.Config{Pool: pool, Schema: "read", Redis: rdb, Namespace: ns, Sources: sources,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("projector: %v", err)
		}
	}()
	testenv.Eventually(t, 60*time.Second, func() error {
		for _, p := range projector.All() {
			for _, area := range p.Sources() {
				cps, err := consumer.Checkpoints(ctx, pool, "read", projector.ConsumerName(p.Name()), area)
				if err != nil {
					return err
				}
				for part, last := range logs[area].lastByPartition() {
					if cps[part] < last {
						return fmt.Errorf("%s/%s partition %d at %d of %d", p.Name(), area, part, cps[part], last)
					}
				}
			}
		}
		return nil
	})
	// Every event applied, none parked: a parked one left its statements out.
	var parked []string
	if err := pgxscan(ctx, pool, &parked, `SELECT name || ' ' || area || ' ' || type || ': ' || error FROM read.consumer_dead_letters`); err != nil {
		t.Fatal(err)
	}
	if len(parked) > 0 {
		t.Fatalf("projector parked events (fix projectorEvents):\n%s", strings.Join(parked, "\n"))
	}
}

// pgxscan collects one text column.
func pgxscan(ctx context.Context, pool *pgxpool.Pool, into *[]string, sql string) error {
	rows, err := pool.Query(ctx, sql)
	if err != nil {
		return err
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	*into = got
	return err
}

// memLog is an area's log in memory, as a consumer's LogSource.
type memLog struct{ events []eventlog.Event }

func (l *memLog) ReadLog(_ context.Context, after int64, limit int) ([]eventlog.Event, error) {
	var out []eventlog.Event
	for _, ev := range l.events {
		if ev.Position > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (l *memLog) lastByPartition() map[int]int64 {
	out := map[int]int64{}
	for _, ev := range l.events {
		out[eventlog.Partition(ev.StreamID, 8)] = ev.Position
	}
	return out
}

// statement is one distinct SQL text and the step that first sent it.
type statement struct{ source, sql string }

// recorder is a pgx tracer keeping each distinct statement sent while a
// step is current.
type recorder struct {
	mu   sync.Mutex
	step string
	seen map[string]bool
	list []statement
}

func (r *recorder) start(step string) {
	r.mu.Lock()
	r.step = step
	r.mu.Unlock()
}

// skipped are statements without a plan to check.
var skipped = regexp.MustCompile(`(?is)^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|RESET|LISTEN|UNLISTEN|NOTIFY|DEALLOCATE|CREATE|DROP|ALTER|LOCK|ANALYZE|COPY)\b`)

func (r *recorder) add(sql string) {
	if skipped.MatchString(sql) || strings.Contains(strings.TrimRight(strings.TrimSpace(sql), ";"), ";") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.step == "" || r.seen[sql] {
		return
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[sql] = true
	r.list = append(r.list, statement{source: r.step, sql: sql})
}

func (r *recorder) statements() []statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *recorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL)
}

func (r *recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// genericPlan prepares sql under name and explains its generic plan. The
// plan of a generic plan does not depend on the parameters' values, so
// EXECUTE passes NULL for each.
func genericPlan(ctx context.Context, conn *pgx.Conn, name, sql string) (map[string]any, error) {
	sd, err := conn.Prepare(ctx, name, sql)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	defer conn.Deallocate(context.Background(), name)
	args := strings.TrimSuffix(strings.Repeat("NULL, ", len(sd.ParamOIDs)), ", ")
	q := "EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE " + name
	if args != "" {
		q += "(" + args + ")"
	}
	var out []map[string]any
	if err := conn.QueryRow(ctx, q, pgx.QueryExecModeSimpleProtocol).Scan(&out); err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	if len(out) != 1 {
		return nil, errors.New("explain: no plan")
	}
	plan, _ := out[0]["Plan"].(map[string]any)
	return plan, nil
}

// seqScans lists the filled tables a plan scans sequentially.
func seqScans(node map[string]any, filled map[string]bool) []string {
	var out []string
	if node["Node Type"] == "Seq Scan" {
		if rel := fmt.Sprintf("%v.%v", node["Schema"], node["Relation Name"]); filled[rel] {
			out = append(out, rel)
		}
	}
	for _, c := range children(node) {
		out = append(out, seqScans(c, filled)...)
	}
	return out
}

func children(node map[string]any) []map[string]any {
	var out []map[string]any
	ps, _ := node["Plans"].([]any)
	for _, p := range ps {
		if m, ok := p.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// planText renders a plan as indented node lines.
func planText(node map[string]any) string {
	var b strings.Builder
	var walk func(n map[string]any, depth int)
	walk = func(n map[string]any, depth int) {
		fmt.Fprintf(&b, "%s%v", strings.Repeat("  ", depth), n["Node Type"])
		if rel, ok := n["Relation Name"]; ok {
			fmt.Fprintf(&b, " on %v.%v", n["Schema"], rel)
		}
		if idx, ok := n["Index Name"]; ok {
			fmt.Fprintf(&b, " using %v", idx)
		}
		for _, k := range []string{"Index Cond", "Filter", "Hash Cond", "Join Filter"} {
			if v, ok := n[k]; ok {
				fmt.Fprintf(&b, " [%s: %v]", k, v)
			}
		}
		fmt.Fprintf(&b, " (rows %v)\n", n["Plan Rows"])
		for _, c := range children(n) {
			walk(c, depth+1)
		}
	}
	walk(node, 0)
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
