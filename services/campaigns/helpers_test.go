package campaigns_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/testenv"
	"crm/services/campaigns"
	"crm/services/campaigns/domain"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/wire"
)

// facts is the test's replica of the customers area: a map.
type facts struct {
	mu        sync.Mutex
	customers map[string]domain.CustomerFact
	err       error
	lastToken wire.Token
}

func (f *facts) Customer(_ context.Context, id string, token wire.Token) (domain.CustomerFact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastToken = token
	return f.customers[id], f.err
}

func (f *facts) set(id string, fact domain.CustomerFact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.customers[id] = fact
}

func (f *facts) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *facts) token() wire.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastToken
}

type env struct {
	h      http.Handler
	l      *eventlog.Log
	svc    *campaigns.Service
	facts  *facts
	pool   *pgxpool.Pool
	schema string
}

// newEnv returns the area's API over a fresh, migrated schema whose log
// keeps the deal index inline, as the lead wires it.
func newEnv(t *testing.T) *env {
	t.Helper()
	pool, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := campaigns.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema, Inline: campaigns.Inline(schema)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return newEnvOn(t, l, pool, schema)
}

func newEnvOn(t *testing.T, l *eventlog.Log, pool *pgxpool.Pool, schema string) *env {
	t.Helper()
	f := &facts{customers: map[string]domain.CustomerFact{}}
	svc := campaigns.NewService(l, f, pool)
	return &env{h: kit.Mux(l, kittest.Key(), svc.Routes(slog.Default())...), l: l, svc: svc, facts: f, pool: pool, schema: schema}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// activeCampaign creates and launches a campaign with one offer on
// product, and returns the campaign and offer ids.
func (e *env) activeCampaign(t *testing.T, product string) (campaignID, offer string) {
	t.Helper()
	c := kittest.Post(t, e.h, "create-campaign", map[string]any{"name": "Spring"}).OK(t)
	o := kittest.Post(t, e.h, "add-offer", map[string]any{"campaignId": c.StreamID, "product": product, "discountPercent": 15}).OK(t)
	kittest.Post(t, e.h, "launch-campaign", map[string]any{"id": c.StreamID}).OK(t)
	return c.StreamID, offerID(t, o)
}

func offerID(t *testing.T, res wire.Result) string {
	t.Helper()
	var d domain.OfferAdded
	if len(res.Events) != 1 || res.Events[0].Type != domain.TypeOfferAdded {
		t.Fatalf("add-offer recorded %+v", res.Events)
	}
	if err := json.Unmarshal(res.Events[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.OfferID
}

// openDeal opens a deal without campaign for customer and returns its id.
func (e *env) openDeal(t *testing.T, customerID string) string {
	t.Helper()
	return kittest.Post(t, e.h, "open-deal", map[string]any{"customerId": customerID, "product": "Heat pump",
		"value": map[string]string{"amount": "900", "currencyCode": "EUR"}}).OK(t).StreamID
}

// stage reads a deal's stage from the deal index.
func (e *env) stage(t *testing.T, dealID string) string {
	t.Helper()
	var s string
	if err := e.pool.QueryRow(context.Background(), "SELECT stage FROM "+e.schema+".deal_index WHERE deal_id = $1", dealID).Scan(&s); err != nil {
		t.Fatalf("index row of %s: %v", dealID, err)
	}
	return s
}

// eventsAfter returns the log's events after position pos.
func (e *env) eventsAfter(t *testing.T, pos int64) []eventlog.Event {
	t.Helper()
	evs, err := e.l.ReadLog(context.Background(), pos, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
