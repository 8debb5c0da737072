// Package svc is the gateway's client of the area services' command API. It
// keeps the consistency token of this gateway process: for each area, the
// highest log position any of its commands returned. Every command carries
// it, so a command that depends on another area's data is decided on a
// replica that has seen every write this gateway already answered.
package svc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/google/uuid"

	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
	"crm/services/wire"
)

// Client sends commands to the area services.
type Client struct {
	urls map[string]string
	http *http.Client
	key  *svcauth.Key

	// RetryWindow bounds the retries of a command that may have reached
	// its service without an answer coming back (default 5s, the
	// read-your-writes wait's own default).
	RetryWindow time.Duration
	// Logger receives the commands whose outcome stays unknown (default
	// slog.Default()).
	Logger *slog.Logger

	mu   sync.Mutex
	seen wire.Token
}

// New returns a client for the services at urls (area -> base URL). hc may
// be nil (a client with a 30 s timeout). key signs each command's service
// credential, whose subject is the command's Meta.Actor; a nil key makes
// every command fail (INTERNAL) without sending anything.
func New(urls map[string]string, hc *http.Client, key *svcauth.Key) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{urls: urls, http: hc, key: key, seen: wire.Token{}}
}

// Meta is what the gateway knows of the request a command comes from.
type Meta struct {
	// Actor is the verified user's subject: the subject of the service
	// credential the command is sent with, recorded as its events' actor.
	// Required.
	Actor         string
	CorrelationID string
	TraceParent   string
}

// OutcomeUnknownError says a command may or may not have been recorded: it
// (or its service's answer) was lost on the way, and retrying it within
// the RetryWindow settled nothing. Sending it again with IdempotencyKey
// is safe: it records nothing twice. It unwraps to an INTERNAL
// *errcode.Error saying so.
type OutcomeUnknownError struct {
	Area, Command string
	// IdempotencyKey is the key the command was sent with: the caller's,
	// or the one the client generated ("gw:<uuid>").
	IdempotencyKey string
	coded          *errcode.Error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("svc: %s %s (idempotency key %s): %v", e.Area, e.Command, e.IdempotencyKey, e.coded)
}

// Unwrap returns the INTERNAL error, whose cause is the last failure.
func (e *OutcomeUnknownError) Unwrap() error { return e.coded }

// Command posts body (a JSON object) to area's /commands/name and returns
// the result. The command always carries an idempotency key: body's
// idempotencyKey, else one generated for this call ("gw:<uuid>"). So when
// the request may have reached the service and no answer came back (the
// connection reset, EOF, a timeout after sending, an answer that is not
// one), or the service answered that the outcome is unknown (INTERNAL), or
// was down after an earlier attempt may have been recorded, Command sends
// it again, with backoff, within RetryWindow: a recorded command is
// answered with its first outcome.
//
// Errors: UNAUTHENTICATED, before sending anything, when meta.Actor is
// empty or not a valid subject (svcauth.Key.Sign); a refusal of the
// service as its *errcode.Error; UNAVAILABLE when
// the service could not be reached and no attempt may have been recorded;
// *OutcomeUnknownError (INTERNAL) when one may have been and the retries
// settled nothing; ctx's error when ctx ends first and nothing was sent.
func (c *Client) Command(ctx context.Context, area, name string, body any, meta Meta) (wire.Result, error) {
	base, ok := c.urls[area]
	if !ok {
		return wire.Result{}, fmt.Errorf("svc: no URL for area %s", area)
	}
	if c.key == nil {
		return wire.Result{}, errors.New("svc: no service key")
	}
	if meta.Actor == "" {
		return wire.Result{}, errcode.New(errcode.Unauthenticated, "the command has no authenticated actor")
	}
	if _, err := c.key.Sign(meta.Actor); err != nil {
		return wire.Result{}, errcode.Wrap(errcode.Unauthenticated, err, "the actor cannot be vouched for")
	}
	raw, key, err := withKey(body)
	if err != nil {
		return wire.Result{}, fmt.Errorf("svc: encode %s: %w", name, err)
	}
	url := strings.TrimRight(base, "/") + wire.CommandPath(name)
	window := c.RetryWindow
	if window <= 0 {
		window = 5 * time.Second
	}
	start := time.Now()
	backoff := 50 * time.Millisecond
	maybe := false // an attempt may have been recorded
	for {
		res, sent, err := c.attempt(ctx, area, url, raw, meta)
		if err == nil {
			c.observe(res)
			return res, nil
		}
		maybe = maybe || sent
		if !maybe {
			return wire.Result{}, err // nothing recorded: a refusal, or the service unreachable
		}
		if code := errcode.CodeOf(err); !sent && errcode.Of(err) != nil && code != errcode.Unavailable {
			// The service looked the key up and decided this attempt:
			// its refusal is the answer.
			return wire.Result{}, err
		}
		if ctx.Err() != nil || time.Since(start)+backoff > window {
			return wire.Result{}, c.unknown(ctx, area, name, key, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return wire.Result{}, c.unknown(ctx, area, name, key, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (c *Client) unknown(ctx context.Context, area, name, key string, cause error) error {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "svc: command outcome unknown", "area", area, "command", name, "idempotencyKey", key, "err", cause)
	return &OutcomeUnknownError{Area: area, Command: name, IdempotencyKey: key,
		coded: errcode.Wrap(errcode.Internal, cause, "the outcome of the write is unknown; retry with the same idempotencyKey")}
}

// attempt sends the command once. sent reports whether it may have been
// recorded though no decisive answer came back: a transport failure once a
// connection was obtained for it (before that, nothing was sent), a broken
// or unreadable answer, or the service's INTERNAL (the outcome may be
// unknown there too). A coded refusal of the service is decisive.
func (c *Client) attempt(ctx context.Context, area, url string, raw []byte, meta Meta) (_ wire.Result, sent bool, _ error) {
	var conn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return wire.Result{}, false, fmt.Errorf("svc: %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed per attempt: a retry late in the window gets a fresh token
	// (Sign reuses one for half its lifetime).
	if err := c.key.Authorize(req, meta.Actor); err != nil {
		return wire.Result{}, false, errcode.Wrap(errcode.Unauthenticated, err, "the actor cannot be vouched for")
	}
	if tok := c.Token().String(); tok != "" {
		req.Header.Set(wire.HeaderConsistencyToken, tok)
	}
	for h, v := range map[string]string{wire.HeaderCorrelationID: meta.CorrelationID, wire.HeaderTraceParent: meta.TraceParent} {
		if v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && !conn.Load() {
			return wire.Result{}, false, ctx.Err()
		}
		return wire.Result{}, conn.Load(), errcode.Wrap(errcode.Unavailable, err, "the %s service is unavailable", area)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return wire.Result{}, true, errcode.Wrap(errcode.Unavailable, err, "the %s service is unavailable", area)
	}
	if resp.StatusCode != http.StatusOK {
		var b errcode.Body
		if json.Unmarshal(data, &b) == nil && b.Error != nil && b.Error.Code != "" {
			return wire.Result{}, b.Error.Code == errcode.Internal, b.Error
		}
		return wire.Result{}, true, errcode.Wrap(errcode.Unavailable, fmt.Errorf("HTTP %d", resp.StatusCode), "the %s service is unavailable", area)
	}
	var res wire.Result
	if err := segjson.Unmarshal(data, &res); err != nil {
		return wire.Result{}, true, errcode.Wrap(errcode.Unavailable, err, "the %s service answered garbage", area)
	}
	return res, false, nil
}

// withKey encodes body, a JSON object, with an idempotencyKey: its own, or
// a generated one. It returns the encoding and the key.
func withKey(body any) ([]byte, string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, "", errors.New("the command is not a JSON object")
	}
	var key string
	if k, ok := fields["idempotencyKey"]; ok {
		if err := json.Unmarshal(k, &key); err != nil && string(k) != "null" {
			return nil, "", errors.New("idempotencyKey is not a string")
		}
	}
	if key != "" {
		return raw, key, nil
	}
	key = "gw:" + uuid.NewString()
	fields["idempotencyKey"], _ = json.Marshal(key)
	raw, err = json.Marshal(fields)
	return raw, key, err
}

// observe raises the token to what a command returned.
func (c *Client) observe(res wire.Result) {
	if res.Area == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range res.Events {
		c.seen[res.Area] = max(c.seen[res.Area], e.Position)
	}
}

// Token is a copy of the process's consistency token.
func (c *Client) Token() wire.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := make(wire.Token, len(c.seen))
	for a, p := range c.seen {
		t[a] = p
	}
	return t
}

// HandlerTransport serves requests with in-process handlers (by host, e.g.
// "customers"), for `crm dev`, where the services listen on no port.
type HandlerTransport map[string]http.Handler

// RoundTrip serves req with the handler of its host.
func (t HandlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, ok := t[req.URL.Host]
	if !ok {
		return nil, errors.New("svc: no in-process service " + req.URL.Host)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
