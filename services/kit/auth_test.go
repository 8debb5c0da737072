package kit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/wire"
)

// note is a command of a test area: it records a Noted event on stream
// id, or on a new stream when id is empty.
type note struct {
	wire.CommandOptions
	ID   string `json:"id,omitempty"`
	Text string `json:"text"`
}

type noted struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

func (noted) EventType() string  { return "Noted" }
func (e noted) StreamID() string { return e.ID }

func noteRoutes(l *eventlog.Log) []kit.Route {
	x := &kit.Executor{Area: "test", Log: l}
	h := kit.Command[note]("note", slog.Default(), func(ctx context.Context, cmd *note, req kit.Request) (wire.Result, error) {
		id := cmd.ID
		if id == "" {
			id = "n_" + uuid.NewString()
		}
		return x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
			v, err := kit.Load(ctx, l, id, func(string, []byte) (struct{}, error) { return struct{}{}, nil }, func(struct{}) {})
			return kit.Plan{Primary: id, Events: []kit.DomainEvent{noted{id, cmd.Text}}, Versions: map[string]int64{id: v}}, err
		})
	})
	return []kit.Route{{Name: "note", Handler: h}}
}

var secret = bytes.Repeat([]byte("0123456789abcdef"), 2)

// forge signs claims with secret, as only a holder of the key can.
func forge(t *testing.T, key []byte, cl jwt.Claims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func get(h http.Handler, path, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Without a valid credential nothing is read or recorded: no credential, a
// malformed one, one signed with another key, an expired one, one of
// another issuer all answer 401 UNAUTHENTICATED. /healthz stays open.
func TestMuxRequiresTheServiceCredential(t *testing.T) {
	t.Parallel()
	l, _ := kittest.Log(t)
	key, err := svcauth.NewKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := kit.Mux(l, key, noteRoutes(l)...)
	now := time.Now()
	claims := func(iss string, iat time.Time) jwt.Claims {
		return jwt.Claims{Subject: "mallory", Issuer: iss, Audience: jwt.Audience{svcauth.Issuer},
			IssuedAt: jwt.NewNumericDate(iat), Expiry: jwt.NewNumericDate(iat.Add(svcauth.TokenLifetime))}
	}
	good, err := key.Sign("user-1")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := svcauth.Random().Sign("user-1")
	bad := map[string]string{
		"none":         "",
		"not bearer":   "Basic dXNlcjpwYXNz",
		"garbage":      "Bearer not-a-token",
		"tampered":     "Bearer " + good[:len(good)-2] + "xx",
		"other key":    "Bearer " + otherKey,
		"expired":      "Bearer " + forge(t, secret, claims(svcauth.Issuer, now.Add(-10*time.Minute))),
		"other issuer": "Bearer " + forge(t, secret, claims("someone", now)),
		"no subject":   "Bearer " + forge(t, secret, jwt.Claims{Issuer: svcauth.Issuer, Audience: jwt.Audience{svcauth.Issuer}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}),
	}
	for name, auth := range bad {
		a := kittest.PostAs(t, h, "", "note", map[string]any{"text": "hi", "idempotencyKey": "k"}, "Authorization", auth)
		if a.Status != http.StatusUnauthorized || a.Error == nil || a.Error.Code != errcode.Unauthenticated {
			t.Fatalf("%s: command answered %d %+v", name, a.Status, a.Error)
		}
		kittest.PostAs(t, h, "", "no-such-command", map[string]any{}, "Authorization", auth).Refused(t, errcode.Unauthenticated, "")
		for _, path := range []string{"/events", "/events?after=0&limit=10", "/streams/n_1/events"} {
			rec := get(h, path, auth)
			var b errcode.Body
			if rec.Code != http.StatusUnauthorized || json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Error == nil ||
				b.Error.Code != errcode.Unauthenticated {
				t.Fatalf("%s: GET %s answered %d %s", name, path, rec.Code, rec.Body.String())
			}
		}
	}
	if head := kittest.Head(t, l); head != 0 {
		t.Fatalf("refused commands recorded events: head %d", head)
	}
	if rec := get(h, "/healthz", ""); rec.Code != http.StatusOK {
		t.Fatalf("healthz %d", rec.Code)
	}
	// The same requests with the credential are served.
	res := kittest.PostAs(t, h, "", "note", map[string]any{"text": "hi"}, "Authorization", "Bearer "+good).OK(t)
	if res.Events[0].Metadata.Actor != "user-1" {
		t.Fatalf("actor %q", res.Events[0].Metadata.Actor)
	}
	if rec := get(h, "/events", "Bearer "+good); rec.Code != http.StatusOK {
		t.Fatalf("GET /events with the credential: %d %s", rec.Code, rec.Body.String())
	}
	if rec := get(h, "/streams/"+res.StreamID+"/events", "Bearer "+good); rec.Code != http.StatusOK {
		t.Fatalf("GET a stream with the credential: %d %s", rec.Code, rec.Body.String())
	}
	// The log client signs its reads.
	c := &eventlog.Client{BaseURL: "http://test", HTTP: &http.Client{Transport: handlerTransport{h}}, Key: key, Subject: "projector"}
	if evs, err := c.ReadLog(context.Background(), 0, 10); err != nil || len(evs) != 1 {
		t.Fatalf("client read: %d events, %v", len(evs), err)
	}
	c.Key = nil
	if _, err := c.ReadLog(context.Background(), 0, 10); errcode.CodeOf(err) != errcode.Unauthenticated {
		t.Fatalf("client without key: %v", err)
	}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// The actor of every event is the credential's subject; an X-Actor header
// is ignored.
func TestActorIsTheCredentialSubject(t *testing.T) {
	t.Parallel()
	l, _ := kittest.Log(t)
	h := kit.Mux(l, kittest.Key(), noteRoutes(l)...)
	res := kittest.PostAs(t, h, "user-42", "note", map[string]any{"text": "hi"}, "X-Actor", "admin").OK(t)
	evs, err := l.ReadLog(context.Background(), 0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("log: %d events, %v", len(evs), err)
	}
	if evs[0].Metadata.Actor != "user-42" || res.Events[0].Metadata.Actor != "user-42" {
		t.Fatalf("recorded actor %q, answered %q", evs[0].Metadata.Actor, res.Events[0].Metadata.Actor)
	}
}

// An idempotency key is the principal's and bound to its command: the same
// key and command answer the first outcome; the same key with another
// command is a CONFLICT that records nothing; another principal's same key
// is another key.
func TestIdempotencyKeyScopedToPrincipalAndCommand(t *testing.T) {
	t.Parallel()
	l, _ := kittest.Log(t)
	h := kit.Mux(l, kittest.Key(), noteRoutes(l)...)
	first := kittest.PostAs(t, h, "alice", "note", map[string]any{"text": "hi", "idempotencyKey": "k-1"}).OK(t)
	// The same command, spelt differently (field order, spacing): a retry.
	again := kittest.PostAs(t, h, "alice", "note", []byte(` { "idempotencyKey" : "k-1", "text":"hi" }`)).OK(t)
	if !again.Duplicate || again.StreamID != first.StreamID || again.Position != first.Position {
		t.Fatalf("retry answered %+v, first %+v", again, first)
	}
	head := kittest.Head(t, l)
	kittest.PostAs(t, h, "alice", "note", map[string]any{"text": "bye", "idempotencyKey": "k-1"}).
		Refused(t, errcode.Conflict, "idempotencyKey")
	kittest.PostAs(t, h, "alice", "note", map[string]any{"text": "hi", "id": first.StreamID, "idempotencyKey": "k-1"}).
		Refused(t, errcode.Conflict, "idempotencyKey")
	if h2 := kittest.Head(t, l); h2 != head {
		t.Fatalf("a conflicting key recorded events: head %d -> %d", head, h2)
	}
	// Bob's k-1 is his own: a new entity, never Alice's.
	bob := kittest.PostAs(t, h, "bob", "note", map[string]any{"text": "hi", "idempotencyKey": "k-1"}).OK(t)
	if bob.Duplicate || bob.StreamID == first.StreamID || bob.Events[0].Metadata.Actor != "bob" {
		t.Fatalf("bob's command answered %+v", bob)
	}
	if dup := kittest.PostAs(t, h, "bob", "note", map[string]any{"text": "hi", "idempotencyKey": "k-1"}).OK(t); !dup.Duplicate || dup.StreamID != bob.StreamID {
		t.Fatalf("bob's retry answered %+v", dup)
	}
	// Subjects that would collide if joined naively stay apart.
	a := kittest.PostAs(t, h, `x":"y`, "note", map[string]any{"text": "hi", "idempotencyKey": "z"}).OK(t)
	b := kittest.PostAs(t, h, "x", "note", map[string]any{"text": "hi", "idempotencyKey": `y":"z`}).OK(t)
	if a.StreamID == b.StreamID || b.Duplicate {
		t.Fatalf("keys collided: %+v %+v", a, b)
	}
}

// A command must say it is JSON; the refusal does not repeat the body.
func TestCommandRequiresJSONContentType(t *testing.T) {
	t.Parallel()
	l, _ := kittest.Log(t)
	h := kit.Mux(l, kittest.Key(), noteRoutes(l)...)
	body := map[string]any{"text": "secret-text"}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx"} {
		a := kittest.Post(t, h, "note", body, "Content-Type", ct)
		a.Refused(t, errcode.BadUserInput, "body")
		if bytes.Contains([]byte(a.Error.Message), []byte("secret-text")) {
			t.Fatalf("refusal echoes the body: %s", a.Error.Message)
		}
	}
	if head := kittest.Head(t, l); head != 0 {
		t.Fatalf("refused commands recorded events: head %d", head)
	}
	kittest.Post(t, h, "note", body, "Content-Type", "application/json; charset=utf-8").OK(t)
}
