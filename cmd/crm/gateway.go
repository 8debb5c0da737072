package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/graph/auth"
	"crm/graph/console"
	"crm/graph/gateway"
	"crm/projector"
)

// gatewayParts is what a gateway needs besides its configuration.
type gatewayParts struct {
	readPool *pgxpool.Pool
	rdb      *redis.Client
	urls     map[string]string
	client   *http.Client // nil: plain HTTP to urls
	heads    map[string]projector.HeadReader
	auth     auth.Authenticator // nil: crm dev's development issuer
}

// serveGateway migrates the read schema (the gateway reads its tables),
// assembles the gateway and serves it on cfg.HTTPAddr until ctx ends.
func serveGateway(ctx context.Context, a *app, cfg Config, p gatewayParts) error {
	if err := projector.Migrate(ctx, p.readPool, readComponent, projector.All()...); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	defer ln.Close()
	authn, dev := p.auth, http.Handler(nil)
	app := console.Settings{Issuer: cfg.Auth.Issuer, ClientID: cfg.ClientID}
	if authn == nil { // crm dev: its own issuer on the gateway's address
		iss, err := devAuth(ln, cfg, p.readPool)
		if err != nil {
			return err
		}
		authn, dev = iss.Verifier(), iss.Handler()
		app = console.Settings{Issuer: iss.Issuer(), ClientID: cfg.ClientID, Dev: true}
	}
	devMode, ex := dev != nil, cfg.Expose
	metrics := on(ex.Metrics, devMode) || ex.MetricsAddr != ""
	hosts := ex.allowedHosts(ln)
	if hosts == nil {
		a.logger.Warn("gateway answers any Host name: set CRM_ALLOWED_HOSTS to the names clients use (DNS rebinding)", "addr", ln.Addr().String())
	}
	gw, err := gateway.New(gateway.Config{ReadPool: p.readPool, Schema: readComponent, Redis: p.rdb, Namespace: cfg.Namespace,
		ServiceURLs: p.urls, HTTPClient: p.client, ServiceKey: cfg.ServiceKey, Heads: p.heads, AllowedOrigins: allowedOrigins(a), Logger: a.logger, FeedBuffer: cfg.FeedBuffer,
		Auth: authn, Dev: dev, Console: app, DisableIntrospection: !on(ex.Introspection, devMode), NoGraphiQL: !on(ex.GraphiQL, devMode),
		NoMetrics: !metrics || ex.MetricsAddr != "", AllowedHosts: hosts, Limits: ex.Limits, Collectors: []prometheus.Collector{dbCalls}})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if ex.MetricsAddr != "" {
		mln, err := net.Listen("tcp", ex.MetricsAddr)
		if err != nil {
			return fmt.Errorf("gateway: metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", gw.Metrics)
		msrv := newServer(mux)
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		a.logger.Info("metrics listening", "metrics", "http://"+mln.Addr().String()+"/metrics")
	}
	a.logger.Info("gateway listening", "graphiql", "http://"+ln.Addr().String()+"/", "graphql", "http://"+ln.Addr().String()+"/graphql")
	fmt.Fprintf(a.stdout, "GraphQL: http://%s/graphql\n", ln.Addr().String())
	if on(ex.GraphiQL, devMode) {
		fmt.Fprintf(a.stdout, "GraphiQL: http://%s/\n", ln.Addr().String())
	}
	fmt.Fprintf(a.stdout, "Console: http://%s/app/\n", ln.Addr().String())
	if dev != nil {
		fmt.Fprintf(a.stdout, "Sign in: GraphiQL's user picker, or GET http://%[1]s/dev/users and POST http://%[1]s/dev/token {\"sub\": \"admin\"}\n", ln.Addr().String())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		gw.Run(ctx)
	}()
	err = serve(ctx, newServer(gw.Handler), ln, a.logger)
	cancel()
	wg.Wait()
	return err
}

// allowedOrigins reads CRM_ALLOWED_ORIGINS: comma-separated host patterns
// whose pages may open WebSocket subscriptions (same-origin always may).
func allowedOrigins(a *app) []string {
	var out []string
	for _, o := range strings.Split(a.getenv("CRM_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// runGateway runs the gateway alone, reaching the services over HTTP.
func runGateway(ctx context.Context, a *app, cfg Config) error {
	pool, err := openPool(ctx, cfg.DatabaseURLs[readComponent], cfg.poolSize(gatewayConns), "crm-gateway")
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer pool.Close()
	authn, err := gatewayAuth(ctx, cfg)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	logBudget(a.logger, processBudget(cfg, "gateway", ""))
	rdb, err := openRedis(ctx, cfg.RedisURL, 32)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer rdb.Close()
	heads := map[string]projector.HeadReader{}
	for _, area := range areas {
		heads[area] = &eventlog.Client{BaseURL: cfg.ServiceURLs[area], Key: cfg.ServiceKey, Subject: "gateway"}
	}
	return serveGateway(ctx, a, cfg, gatewayParts{readPool: pool, rdb: rdb, urls: cfg.ServiceURLs, heads: heads, auth: authn})
}
