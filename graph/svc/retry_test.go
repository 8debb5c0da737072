package svc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"crm/eventlog/errcode"
)

// flaky serves a service, but drops the connection without an
// answer on the first drop requests: after serving them (the command is
// recorded, the answer lost) or, with before set, before serving them.
type flaky struct {
	t      *testing.T
	h      http.Handler
	before bool
	drop   int
	after  func() // called after each drop

	mu   sync.Mutex
	keys []string // idempotencyKey of every request, in order
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var b struct{ IdempotencyKey string }
	_ = json.Unmarshal(body, &b)
	f.mu.Lock()
	f.keys = append(f.keys, b.IdempotencyKey)
	drop := len(f.keys) <= f.drop
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !drop {
		f.h.ServeHTTP(w, r)
		return
	}
	if !f.before {
		f.h.ServeHTTP(httptest.NewRecorder(), r)
	}
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		f.t.Error(err)
		return
	}
	conn.Close()
	if f.after != nil {
		f.after()
	}
}

func (f *flaky) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}

// A connection lost after the request was sent (the service recorded the
// command, or not yet) is retried with the same idempotency key, the
// caller's or one the client generated: one success, one record.
func TestCommandRetriedAfterConnectionLost(t *testing.T) {
	t.Parallel()
	h := newService("customers")
	for i, tc := range []struct {
		name   string
		before bool
		key    string
	}{
		{"recorded, answer lost, generated key", false, ""},
		{"recorded, answer lost, caller's key", false, "k-1"},
		{"lost before the service read it", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{t: t, h: h, before: tc.before, drop: 1}
			srv := httptest.NewServer(f)
			defer srv.Close()
			c := New(map[string]string{"customers": srv.URL}, nil, testKey)
			body := map[string]any{"name": "Ada", "email": fmt.Sprintf("ada%d@example.com", i)}
			if tc.key != "" {
				body["idempotencyKey"] = tc.key
			}
			res, err := c.Command(context.Background(), "customers", "register-customer", body, Meta{Actor: "user-1"})
			if err != nil {
				t.Fatalf("command: %v", err)
			}
			if res.Duplicate == tc.before {
				t.Fatalf("duplicate = %v, want %v", res.Duplicate, !tc.before)
			}
			keys := f.sent()
			if len(keys) != 2 || keys[0] != keys[1] || keys[0] == "" {
				t.Fatalf("keys sent %q, want the same key twice", keys)
			}
			if tc.key != "" && keys[0] != tc.key || tc.key == "" && !strings.HasPrefix(keys[0], "gw:") {
				t.Fatalf("key sent %q", keys[0])
			}
			if n := h.recorded("register-customer:" + keys[0]); n != 1 {
				t.Fatalf("recorded %d events under the key, want 1", n)
			}
			if c.Token()["customers"] != res.Position {
				t.Fatalf("token %v after position %d", c.Token(), res.Position)
			}
		})
	}
}

// A service that cannot be reached recorded nothing: UNAVAILABLE, at once.
func TestCommandDialRefusedIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := New(map[string]string{"customers": "http://" + addr}, nil, testKey)
	start := time.Now()
	_, err = c.Command(context.Background(), "customers", "register-customer", map[string]any{"name": "Ada"}, Meta{Actor: "user-1"})
	var unknown *OutcomeUnknownError
	if errcode.CodeOf(err) != errcode.Unavailable || errors.As(err, &unknown) {
		t.Fatalf("unreachable service: %v, want UNAVAILABLE", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("UNAVAILABLE after %v: it was retried", d)
	}
}

// Once an attempt may have been recorded, a service that stays down does
// not make the command UNAVAILABLE: its outcome is unknown, and the error
// carries the key to retry it with.
func TestCommandOutcomeUnknownAfterRetries(t *testing.T) {
	t.Parallel()
	h := newService("customers")
	f := &flaky{t: t, h: h, drop: 1}
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.after = func() { srv.Listener.Close() } // the service dies with the answer
	c := New(map[string]string{"customers": srv.URL}, nil, testKey)
	c.RetryWindow = 500 * time.Millisecond
	_, err := c.Command(context.Background(), "customers", "register-customer",
		map[string]any{"name": "Ada", "email": "ada@example.com"}, Meta{Actor: "user-1"})
	var unknown *OutcomeUnknownError
	if !errors.As(err, &unknown) || errcode.CodeOf(err) != errcode.Internal {
		t.Fatalf("answer %v, want an unknown outcome (INTERNAL)", err)
	}
	if keys := f.sent(); len(keys) != 1 || unknown.IdempotencyKey != keys[0] {
		t.Fatalf("error's key %q, keys sent %q", unknown.IdempotencyKey, keys)
	}
	if n := h.recorded("register-customer:" + unknown.IdempotencyKey); n != 1 {
		t.Fatalf("recorded %d events under the key, want 1", n)
	}
}
