package appointments_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/eventlog/testenv"
	"crm/services/appointments"
	"crm/services/appointments/domain"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/wire"
)

// facts is the tests' Facts: what the replicas would know, in maps. A
// token asking for a customers position beyond head times out, as the
// lead's replica does when it cannot catch up in time.
type facts struct {
	mu          sync.Mutex
	customers   map[string]domain.CustomerFact
	salespeople map[string]bool
	head        int64  // the customers position the "replica" has applied
	broken      string // a customer id whose lookup fails without a code
	tokens      []wire.Token
}

func newFacts() *facts {
	return &facts{customers: map[string]domain.CustomerFact{}, salespeople: map[string]bool{}, head: 1 << 40}
}

func (f *facts) Customer(_ context.Context, id string, token wire.Token) (domain.CustomerFact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, token)
	if token["customers"] > f.head {
		return 0, errcode.New(errcode.ConsistencyTimeout, "the customer replica is behind")
	}
	if id == f.broken {
		return 0, errors.New("replica table is gone")
	}
	return f.customers[id], nil
}

func (f *facts) SalespersonKnown(_ context.Context, id string, token wire.Token) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, token)
	return f.salespeople[id], nil
}

func (f *facts) customer(fact domain.CustomerFact) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ids.New(ids.Customer)
	f.customers[id] = fact
	return id
}

func (f *facts) set(id string, fact domain.CustomerFact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.customers[id] = fact
}

func (f *facts) salesperson() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ids.New(ids.Salesperson)
	f.salespeople[id] = true
	return id
}

func (f *facts) lastToken() wire.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[len(f.tokens)-1]
}

// env is one test's service: its own schema, migrated by the area's
// Migrate, and a log whose inline projection keeps the index.
type env struct {
	h      http.Handler
	l      *eventlog.Log
	pool   *pgxpool.Pool
	schema string
	svc    *appointments.Service
	facts  *facts
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := appointments.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema, Inline: appointments.Inline(schema)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	e := &env{l: l, pool: pool, schema: schema, facts: newFacts()}
	e.svc = appointments.NewService(l, e.facts, pool)
	e.h = kit.Mux(l, kittest.Key(), e.svc.Routes(slog.Default())...)
	return e
}

// day is a whole hour two days ahead: appointments at day.Add(...) are in
// the future for the whole test.
func day() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour) }

func rfc(t time.Time) string { return t.Format(time.RFC3339Nano) }

// slot is a schedule-appointment body.
func slot(customerID, salespersonID string, start, end time.Time) map[string]any {
	return map[string]any{"customerId": customerID, "salespersonId": salespersonID,
		"startsAt": rfc(start), "endsAt": rfc(end), "location": "Head office"}
}

func (e *env) schedule(t *testing.T, customerID, salespersonID string, start, end time.Time) string {
	t.Helper()
	return kittest.Post(t, e.h, "schedule-appointment", slot(customerID, salespersonID, start, end)).OK(t).StreamID
}

// appointment rebuilds an appointment from the log.
func (e *env) appointment(t *testing.T, id string) domain.Appointment {
	t.Helper()
	evs, err := e.l.ReadAllStream(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var a domain.Appointment
	for _, ev := range evs {
		de, err := domain.Decode(ev.Type, ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		a.Apply(de)
	}
	return a
}

// indexRow is one row of the appointment index.
type indexRow struct {
	customer, salesperson, status string
	starts, ends                  time.Time
	version                       int64
}

func (e *env) index(t *testing.T) map[string]indexRow {
	t.Helper()
	return readIndex(t, e.pool, e.schema)
}

func readIndex(t *testing.T, pool *pgxpool.Pool, schema string) map[string]indexRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT appointment_id, customer_id, salesperson_id, status, starts_at, ends_at, version FROM "+
		schema+".appointment_index")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]indexRow{}
	for rows.Next() {
		var id string
		var r indexRow
		if err := rows.Scan(&id, &r.customer, &r.salesperson, &r.status, &r.starts, &r.ends, &r.version); err != nil {
			t.Fatal(err)
		}
		r.starts, r.ends = r.starts.UTC(), r.ends.UTC()
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
