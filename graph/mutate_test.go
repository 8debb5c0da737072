package graph

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"crm/eventlog/ids"
	"crm/eventlog/svcauth"
	"crm/graph/auth"
	"crm/graph/svc"
	"crm/projector"
	"crm/services/wire"
)

// A mutation whose outcome stays unknown (the service dies with its
// answer) is INTERNAL, never UNAVAILABLE, and names the idempotency key the
// gateway sent, so the client can retry it safely.
func TestMutationOutcomeUnknownCarriesKey(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c := svc.New(map[string]string{"customers": srv.URL}, nil, svcauth.Random())
	c.RetryWindow = 200 * time.Millisecond
	r := &Resolver{Commands: c, Applied: func(context.Context, string, string, int, int64) error { return nil }}
	for _, key := range []string{"", "client-key"} {
		input := map[string]any{"name": "Ada", "email": "ada@example.com"}
		if key != "" {
			input["idempotencyKey"] = key
		}
		_, err := r.command(asAdmin(), "customers", "register-customer", "customers", input)
		got := errorPresenter(slog.Default())(context.Background(), err)
		sent, _ := got.Extensions["idempotencyKey"].(string)
		if got.Extensions["code"] != "INTERNAL" || !strings.Contains(got.Message, "unknown") ||
			key != "" && sent != key || key == "" && !strings.HasPrefix(sent, "gw:") {
			t.Fatalf("key %q: presented %+v (%v)", key, got, err)
		}
	}
}

// A mutation answers only once every projection that follows the area's
// log has applied the write, the answer's own first: a query after
// openDeal reads the customer's open deal count, not only the deal.
func TestMutationWaitsForEveryFollowingProjection(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"area": "campaigns", "streamId": "deal_1", "version": 1, "position": 7,
			"events": [{"streamId": "deal_1", "position": 7}]}`))
	}))
	defer srv.Close()
	var waited []string
	r := &Resolver{Commands: svc.New(map[string]string{"campaigns": srv.URL}, nil, svcauth.Random()),
		Applied: func(_ context.Context, projection, area string, _ int, position int64) error {
			if area != "campaigns" || position != 7 {
				t.Errorf("waited for %s at %s/%d", projection, area, position)
			}
			waited = append(waited, projection)
			return nil
		}}
	if _, err := r.command(asAdmin(), "campaigns", "open-deal", "campaigns", map[string]any{"customerId": "cus_1"}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range projector.All() {
		if slices.Contains(p.Sources(), "campaigns") {
			want = append(want, p.Name())
		}
	}
	if len(waited) == 0 || waited[0] != "campaigns" || !slices.Contains(waited, "customers") {
		t.Fatalf("waited for %v; want campaigns first, then every follower of the campaigns log %v", waited, want)
	}
	slices.Sort(waited)
	slices.Sort(want)
	if !slices.Equal(waited, want) {
		t.Fatalf("waited for %v, want %v", waited, want)
	}
}

// asAdmin is a context carrying an admin principal, as the gateway's
// authentication makes for a signed-in admin.
func asAdmin() context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{Subject: "admin", Role: auth.Admin})
}

// A mutation whose selection is its entity's id alone answers it without
// reading the row; any other field, or a fragment, reads it.
func TestMutationAnswersAnIdWithoutReadingTheRow(t *testing.T) {
	t.Parallel()
	f := newFakeServices(t)
	e := newEnv(t, withServices(f))
	id := ids.New(ids.Customer)
	e.exec(`INSERT INTO {{.schema}}.customers (id, registered, name, email, status, created_at, updated_at)
		VALUES ($1, true, 'Nina New', 'nina@example.com', 'ACTIVE', now(), now())`, id)
	f.mu.Lock()
	f.created = map[string]string{wire.RegisterCustomer: id}
	f.mu.Unlock()
	const register = `mutation { registerCustomer(input: {name: "Nina New", email: "nina@example.com"}) `
	for _, c := range []struct {
		query    string
		wantName string // "": no name selected, no read
	}{
		{register + `{ id } }`, ""},
		{register + `{ __typename id } }`, ""},
		{register + `{ id name } }`, "Nina New"},
		{register + `{ id ... on Customer { name } } }`, "Nina New"},
		{register + `{ ...f } } fragment f on Customer { id }`, "?"},
	} {
		before := e.statements.Load()
		var got struct {
			RegisterCustomer struct{ ID, Name string }
		}
		e.query(&got, c.query, nil)
		n := e.statements.Load() - before
		if got.RegisterCustomer.ID != id {
			t.Errorf("%s: id %q, want %q", c.query, got.RegisterCustomer.ID, id)
		}
		if reads := c.wantName != ""; reads != (n > 0) {
			t.Errorf("%s: %d statements; want a read: %v", c.query, n, reads)
		}
		if c.wantName != "" && c.wantName != "?" && got.RegisterCustomer.Name != c.wantName {
			t.Errorf("%s: name %q, want %q", c.query, got.RegisterCustomer.Name, c.wantName)
		}
	}
}
