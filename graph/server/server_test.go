package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	ready := errors.New("redis: connection refused")
	h := New(Config{
		GraphQL: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data":{}}`) }),
		Ready:   func(context.Context) error { return ready },
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("readyz while not ready: %d %s", code, body)
	}
	ready = nil
	if code, _ := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("readyz when ready: %d", code)
	}
	if code, body := get(t, srv.URL+"/graphql"); code != 200 || body != `{"data":{}}` {
		t.Errorf("graphql %d %s", code, body)
	}
	if code, body := get(t, srv.URL+"/"); code != 200 || !strings.Contains(body, "graphiql.min.js") {
		t.Errorf("graphiql %d", code)
	}
	if code, body := get(t, srv.URL+"/app"); code != 200 || !strings.Contains(body, "./assets/app.js") {
		t.Errorf("console (redirected from /app) %d", code)
	}
	if code, body := get(t, srv.URL+"/app/assets/app.js"); code != 200 || len(body) < 1000 {
		t.Errorf("console script %d, %d bytes", code, len(body))
	}
	code, body := get(t, srv.URL+"/metrics")
	if code != 200 || !strings.Contains(body, `crm_http_requests_total{code="503",path="/readyz"} 1`) ||
		!strings.Contains(body, `crm_http_requests_total{code="200",path="/app/"} 2`) {
		t.Errorf("metrics %d:\n%s", code, body)
	}
}
