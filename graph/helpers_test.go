package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/testenv"
	"crm/graph/auth"
	"crm/graph/readstore"
	"crm/graph/readstore/readtest"
)

// env is one test's gateway over its own read schema.
type env struct {
	t      testing.TB
	db     *pgxpool.Pool
	schema string
	srv    *httptest.Server
	// statements counts SQL statements the store's pool ran.
	statements atomic.Int64
}

type envOption func(*Config)

// newEnv creates the read tables in a fresh schema and serves the handler
// over a pool whose tracer counts statements.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	db, schema := readtest.Schema(t)
	e := &env{t: t, db: db, schema: schema}
	pcfg, err := pgxpool.ParseConfig(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = counter{&e.statements}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := readstore.New(readstore.Config{DB: pool, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Resolver: &Resolver{Store: store}, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(asPrincipal(h))
	t.Cleanup(e.srv.Close)
	return e
}

// principalHeader chooses a request's principal in tests (asPrincipal):
// "role" or "role:salespersonId"; "none" sends none. Production has no
// such thing: graph/gateway authenticates.
const principalHeader = "X-Test-Principal"

// testAdmin is the principal of requests that choose none.
var testAdmin = &auth.Principal{Subject: "test-admin", Name: "Test Admin", Role: auth.Admin}

// asPrincipal is the tests' stand-in for authentication: every request is
// made by testAdmin unless principalHeader says otherwise.
func asPrincipal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := testAdmin
		if h := r.Header.Get(principalHeader); h != "" {
			role, sp, _ := strings.Cut(h, ":")
			p = &auth.Principal{Subject: "test-" + h, Name: h, Role: auth.Role(role), SalespersonID: sp}
			if h == "none" {
				p = nil
			}
		}
		ctx := r.Context()
		if p != nil {
			ctx = auth.WithPrincipal(ctx, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// counter is a pgx.QueryTracer and BatchTracer counting every statement.
type counter struct{ n *atomic.Int64 }

func (c counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The statements of a pipelined batch count one each.
func (counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c counter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) { c.n.Add(1) }

func (counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	readtest.Exec(e.t, e.db, e.schema, sql, args...)
}

// gqlError is one GraphQL error as a client sees it.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// post sends one operation and decodes the answer.
func (e *env) post(query string, vars map[string]any) gqlResponse {
	e.t.Helper()
	return e.postBody(map[string]any{"query": query, "variables": vars})
}

// postAs sends one operation as principal (see principalHeader).
func (e *env) postAs(principal, query string, vars map[string]any) gqlResponse {
	e.t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.doAs(principal, http.MethodPost, "/", bytes.NewReader(b))
}

func (e *env) postBody(body any) gqlResponse {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(http.MethodPost, "/", bytes.NewReader(b))
}

func (e *env) do(method, path string, body io.Reader) gqlResponse {
	e.t.Helper()
	return e.doAs("", method, path, body)
}

func (e *env) doAs(principal, method, path string, body io.Reader) gqlResponse {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if principal != "" {
		req.Header.Set(principalHeader, principal)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("status %d, body %s: %v", res.StatusCode, raw, err)
	}
	out.Status = res.StatusCode
	return out
}

// query sends an operation that must succeed and decodes its data into v.
func (e *env) query(v any, query string, vars map[string]any) {
	e.t.Helper()
	r := e.post(query, vars)
	if len(r.Errors) > 0 {
		e.t.Fatalf("errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		e.t.Fatalf("data %s: %v", r.Data, err)
	}
}

// wantError checks the answer has one error with code (and field).
func wantError(t *testing.T, r gqlResponse, code, field string) gqlError {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("want %s error, got data %s", code, r.Data)
	}
	e := r.Errors[0]
	if e.Extensions["code"] != code {
		t.Fatalf("want code %s, got %+v", code, r.Errors)
	}
	if field != "" && e.Extensions["field"] != field {
		t.Fatalf("want field %s, got %+v", field, r.Errors)
	}
	return e
}

// testWriter sends the handler's logs to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}
