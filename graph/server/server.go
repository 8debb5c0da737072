// Package server assembles the gateway's HTTP endpoints around the GraphQL
// handler: GraphiQL at "/", GraphQL at "/graphql", "/healthz", "/readyz"
// and Prometheus metrics at "/metrics".
package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	mux.Handle("/", graphiql.Handler("CRM GraphQL", "/graphql", "/graphiql"))
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
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(rec, r)
		path := metricPath(r.URL.Path)
		requests.WithLabelValues(path, strconv.Itoa(rec.code)).Inc()
		latency.WithLabelValues(path).Observe(time.Since(start).Seconds())
	})
}

// metricPath keeps the label set small: known endpoints, else "other".
func metricPath(p string) string {
	switch p {
	case "/graphql", "/healthz", "/readyz", "/metrics", "/":
		return p
	}
	if len(p) > 9 && p[:10] == "/graphiql/" {
		return "/graphiql/"
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
