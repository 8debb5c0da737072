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
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"crm/eventlog/errcode"
	"crm/services/kit"
)

// Client sends commands to the area services.
type Client struct {
	urls map[string]string
	http *http.Client

	mu   sync.Mutex
	seen kit.Token
}

// New returns a client for the services at urls (area -> base URL). hc may
// be nil (a client with a 30 s timeout).
func New(urls map[string]string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{urls: urls, http: hc, seen: kit.Token{}}
}

// Meta is what the gateway knows of the request a command comes from.
type Meta struct {
	Actor         string
	CorrelationID string
	TraceParent   string
}

// Command posts body to area's /commands/name and returns the result. A
// refusal comes back as the service's *errcode.Error; a service that cannot
// be reached or answers garbage is UNAVAILABLE (nothing was recorded, or a
// retry with the same idempotency key is safe).
func (c *Client) Command(ctx context.Context, area, name string, body any, meta Meta) (kit.Result, error) {
	base, ok := c.urls[area]
	if !ok {
		return kit.Result{}, fmt.Errorf("svc: no URL for area %s", area)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return kit.Result{}, fmt.Errorf("svc: encode %s: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/commands/"+name, bytes.NewReader(raw))
	if err != nil {
		return kit.Result{}, fmt.Errorf("svc: %s: %w", name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok := c.Token().String(); tok != "" {
		req.Header.Set(kit.HeaderConsistencyToken, tok)
	}
	for h, v := range map[string]string{kit.HeaderActor: meta.Actor, kit.HeaderCorrelationID: meta.CorrelationID, kit.HeaderTraceParent: meta.TraceParent} {
		if v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return kit.Result{}, ctx.Err()
		}
		return kit.Result{}, errcode.Wrap(errcode.Unavailable, err, "the %s service is unavailable", area)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return kit.Result{}, errcode.Wrap(errcode.Unavailable, err, "the %s service is unavailable", area)
	}
	if resp.StatusCode != http.StatusOK {
		var b errcode.Body
		if json.Unmarshal(data, &b) == nil && b.Error != nil && b.Error.Code != "" {
			return kit.Result{}, b.Error
		}
		return kit.Result{}, errcode.Wrap(errcode.Unavailable, fmt.Errorf("HTTP %d", resp.StatusCode), "the %s service is unavailable", area)
	}
	var res kit.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return kit.Result{}, errcode.Wrap(errcode.Unavailable, err, "the %s service answered garbage", area)
	}
	c.observe(res)
	return res, nil
}

// observe raises the token to what a command returned.
func (c *Client) observe(res kit.Result) {
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
func (c *Client) Token() kit.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := make(kit.Token, len(c.seen))
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
