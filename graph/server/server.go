// Package server assembles the gateway's HTTP endpoints around the GraphQL
// handler: GraphiQL at "/", the CRM console at "/app/", GraphQL at
// "/graphql", "/healthz", "/readyz" and Prometheus metrics at "/metrics".
package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"crm/graph/console"
	"crm/graph/graphiql"
)

// Config is what the server serves.
type Config struct {
	// GraphQL serves /graphql (HTTP and WebSocket).
	GraphQL http.Handler
	// Ready checks the gateway's dependencies (databases, Redis); /readyz
	// answers 503 with its error's text when it fails.
	Ready func(ctx context.Context) error
	// Registry receives the HTTP metrics and is served at /metrics; other
	// components register their own collectors (subscriptions, lag) on it.
	Registry *prometheus.Registry
	// Dev, when set, serves /dev/ (the development issuer of crm dev).
	Dev http.Handler
	// Console are the console's settings (how its users sign in), served
	// at /app/config.json.
	Console console.Settings
	// NoGraphiQL leaves "/" unserved; NoMetrics leaves /metrics unserved
	// (serve Metrics(Registry) on an admin listener instead).
	NoGraphiQL, NoMetrics bool
	// AllowedHosts, when set, are the host names (without port) a
	// request's Host may name; others are answered 421, so that a page of
	// another site whose name resolves to this server (DNS rebinding)
	// cannot reach it. /healthz and /readyz answer any Host.
	AllowedHosts []string
}

// Metrics serves reg in the Prometheus text format.
func Metrics(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// New returns the gateway's handler.
func New(cfg Config) http.Handler {
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_http_requests_total", Help: "HTTP requests answered, by path and status code."}, []string{"path", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "crm_http_request_duration_seconds", Help: "HTTP request latency, by path.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"path"})
	cfg.Registry.MustRegister(requests, latency)

	mux := http.NewServeMux()
	if !cfg.NoGraphiQL {
		mux.Handle("/", graphiql.Handler("CRM GraphQL", "/graphql", "/graphiql"))
	}
	// The console is static: it shows nothing without a signed-in user,
	// so it is served wherever the gateway is (GraphiQL may be off).
	app := console.Handler("/app", cfg.Console)
	mux.Handle("/app", app)
	mux.Handle("/app/", app)
	mux.Handle("/graphql", cfg.GraphQL)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if cfg.Ready != nil {
			if err := cfg.Ready(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if cfg.Dev != nil {
		mux.Handle("/dev/", cfg.Dev)
	}
	if !cfg.NoMetrics {
		mux.Handle("GET /metrics", Metrics(cfg.Registry))
	}
	allowed := map[string]bool{}
	for _, h := range cfg.AllowedHosts {
		allowed[strings.ToLower(strings.Trim(h, "[]"))] = true
	}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		if len(allowed) > 0 && !allowed[hostOf(r.Host)] && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			writeJSON(rec, http.StatusMisdirectedRequest, map[string]any{"errors": []map[string]any{{
				"message": "this server does not answer for that host name", "extensions": map[string]string{"code": "FORBIDDEN"}}}})
		} else {
			mux.ServeHTTP(rec, r)
		}
		path := metricPath(r.URL.Path)
		requests.WithLabelValues(path, strconv.Itoa(rec.code)).Inc()
		latency.WithLabelValues(path).Observe(time.Since(start).Seconds())
	})
}

// hostOf is a Host header's name, lower case, without port or brackets.
func hostOf(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}

// metricPath keeps the label set small: known endpoints, else "other".
func metricPath(p string) string {
	switch p {
	case "/graphql", "/healthz", "/readyz", "/metrics", "/":
		return p
	}
	if strings.HasPrefix(p, "/dev/") {
		return "/dev/"
	}
	if strings.HasPrefix(p, "/graphiql/") {
		return "/graphiql/"
	}
	if p == "/app" || strings.HasPrefix(p, "/app/") {
		return "/app/"
	}
	return "other"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// statusRecorder remembers the status code; it passes Flush and Hijack
// through (WebSocket upgrades need Hijack).
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
