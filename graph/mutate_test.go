package graph

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"crm/graph/svc"
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
	c := svc.New(map[string]string{"customers": srv.URL}, nil)
	c.RetryWindow = 200 * time.Millisecond
	r := &Resolver{Commands: c, Applied: func(context.Context, string, string, int, int64) error { return nil }}
	for _, key := range []string{"", "client-key"} {
		input := map[string]any{"name": "Ada", "email": "ada@example.com"}
		if key != "" {
			input["idempotencyKey"] = key
		}
		_, err := r.command(context.Background(), "customers", "register-customer", "customers", input)
		got := errorPresenter(slog.Default())(context.Background(), err)
		sent, _ := got.Extensions["idempotencyKey"].(string)
		if got.Extensions["code"] != "INTERNAL" || !strings.Contains(got.Message, "unknown") ||
			key != "" && sent != key || key == "" && !strings.HasPrefix(sent, "gw:") {
			t.Fatalf("key %q: presented %+v (%v)", key, got, err)
		}
	}
}
