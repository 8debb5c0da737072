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
}

// serveGateway migrates the read schema (the gateway reads its tables),
// assembles the gateway and serves it on cfg.HTTPAddr until ctx ends.
func serveGateway(ctx context.Context, a *app, cfg Config, p gatewayParts) error {
	if err := projector.Migrate(ctx, p.readPool, readComponent, projector.All()...); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	gw, err := gateway.New(gateway.Config{ReadPool: p.readPool, Schema: readComponent, Redis: p.rdb, Namespace: cfg.Namespace,
		ServiceURLs: p.urls, HTTPClient: p.client, ServiceKey: cfg.ServiceKey, Heads: p.heads, AllowedOrigins: allowedOrigins(a), Logger: a.logger, FeedBuffer: cfg.FeedBuffer,
		Collectors: []prometheus.Collector{dbCalls}})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	a.logger.Info("gateway listening", "graphiql", "http://"+ln.Addr().String()+"/", "graphql", "http://"+ln.Addr().String()+"/graphql")
	fmt.Fprintf(a.stdout, "GraphiQL: http://%s/\n", ln.Addr().String())
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
	return serveGateway(ctx, a, cfg, gatewayParts{readPool: pool, rdb: rdb, urls: cfg.ServiceURLs, heads: heads})
}
