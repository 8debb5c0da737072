// Package kittest helps the areas' tests: a migrated event log in a fresh
// schema, and a client for the command API.
package kittest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
	"crm/services/wire"
)

// Log returns an open log in a fresh schema, and the pool on its database.
func Log(t testing.TB) (*eventlog.Log, *pgxpool.Pool) {
	t.Helper()
	pool, schema := testenv.Schema(t)
	return LogOn(t, pool, schema), pool
}

// LogOn migrates schema and returns the log open in it through pool (a
// test's own pool, with a tracer say), closed at cleanup.
func LogOn(t testing.TB, pool *pgxpool.Pool, schema string) *eventlog.Log {
	t.Helper()
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// AreaLog returns an open log in a fresh schema migrated by the area's
// migrate (which creates the log and the area's own tables), whose appends
// run the area's inline statements, and the pool on its database.
func AreaLog(t testing.TB, migrate func(context.Context, *pgxpool.Pool, string) error,
	inline func(schema string) func([]eventlog.Event) ([]eventlog.Statement, error)) (*eventlog.Log, *pgxpool.Pool) {
	t.Helper()
	pool, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema, Inline: inline(schema)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, pool
}

// Actor is the subject of the credential Post sends.
const Actor = "test-user"

var key = svcauth.Random()

// Key is the service key of this test process: the areas' handlers in
// tests verify with it (kit.Mux(l, kittest.Key(), ...)) and Post signs with
// it.
func Key() *svcauth.Key { return key }

// Bearer returns an Authorization header value carrying a credential for
// subject signed with Key.
func Bearer(t testing.TB, subject string) string {
	t.Helper()
	tok, err := key.Sign(subject)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// Answer is a command API answer.
type Answer struct {
	Status int
	Result wire.Result
	Error  *errcode.Error
}

// Post sends a command body (any JSON-encodable value, or a []byte sent
// as is) to h at /commands/name as Actor (a credential signed with Key),
// with optional headers as key/value pairs (which may replace the
// Authorization and Content-Type headers; an empty value removes one).
func Post(t testing.TB, h http.Handler, name string, body any, headers ...string) Answer {
	t.Helper()
	return PostAs(t, h, Actor, name, body, headers...)
}

// PostAs is Post with a credential for subject ("": none).
func PostAs(t testing.TB, h http.Handler, subject, name string, body any, headers ...string) Answer {
	t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/commands/"+name, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if subject != "" {
		req.Header.Set("Authorization", Bearer(t, subject))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := Answer{Status: rec.Code}
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.Result); err != nil {
			t.Fatalf("%s: decode result %q: %v", name, rec.Body.String(), err)
		}
		return a
	}
	var b errcode.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == nil {
		t.Fatalf("%s: status %d with body %q", name, rec.Code, rec.Body.String())
	}
	a.Error = b.Error
	return a
}

// Refused fails the test unless a is a refusal with the code and field.
func (a Answer) Refused(t testing.TB, code errcode.Code, field string) {
	t.Helper()
	if a.Error == nil || a.Error.Code != code || (field != "" && a.Error.Field != field) {
		t.Fatalf("answer %d %+v %+v, want %s on %q", a.Status, a.Error, a.Result, code, field)
	}
	if a.Status != errcode.HTTPStatus(code) {
		t.Fatalf("status %d for %s", a.Status, code)
	}
}

// OK fails the test unless a is a success, and returns its result.
func (a Answer) OK(t testing.TB) wire.Result {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("answer %d %+v", a.Status, a.Error)
	}
	return a.Result
}

// Head returns the log's head position.
func Head(t testing.TB, l *eventlog.Log) int64 {
	t.Helper()
	h, err := l.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}
