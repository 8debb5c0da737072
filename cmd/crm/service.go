package main

import (
	"context"
	"fmt"
	"net"
	"sync"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/services/kit"
)

// runService runs one area's write service: its command API and log API on
// addr, its relay, and its consumers of other areas (replicas, reactions),
// which catch up from the other services' log APIs.
func runService(ctx context.Context, a *app, cfg Config, area string) error {
	pool, err := openPool(ctx, cfg.DatabaseURLs[area], cfg.poolSize(serviceLogConns), "crm-"+area)
	if err != nil {
		return fmt.Errorf("service %s: %w", area, err)
	}
	defer pool.Close()
	// The consumers get a pool of their own: a reaction reads and appends
	// through pool while its consumer's transaction holds a connection.
	consumerPool := pool
	if n := serviceApplyConns(area); n > 0 {
		if consumerPool, err = connectPool(ctx, cfg.DatabaseURLs[area], cfg.poolSize(n), "crm-"+area+"-consumers"); err != nil {
			return fmt.Errorf("service %s: %w", area, err)
		}
		defer consumerPool.Close()
	}
	logBudget(a.logger, processBudget(cfg, "service", area))
	rdb, err := openRedis(ctx, cfg.RedisURL, 64)
	if err != nil {
		return fmt.Errorf("service %s: %w", area, err)
	}
	defer rdb.Close()
	sources := map[string]consumer.LogSource{}
	for _, other := range areas {
		sources[other] = &eventlog.Client{BaseURL: cfg.ServiceURLs[other], Key: cfg.ServiceKey, Subject: area}
	}
	ac := kit.AreaConfig{Pool: pool, ConsumerPool: consumerPool, Redis: rdb, Namespace: cfg.Namespace, Sources: sources, Logger: a.logger,
		ServiceKey: cfg.ServiceKey}
	svc, err := areaDefs[area].open(ctx, ac)
	if err != nil {
		return fmt.Errorf("service %s: %w", area, err)
	}
	defer svc.Log.Close()
	ln, err := net.Listen("tcp", cfg.ServiceAddrs[area])
	if err != nil {
		return fmt.Errorf("service %s: listen: %w", area, err)
	}
	a.logger.Info("service listening", "area", area, "addr", ln.Addr().String())

	var wg sync.WaitGroup
	var runErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = svc.Run(ctx)
		cancel()
	}()
	err = serve(ctx, newServer(svc.Handler), ln, a.logger)
	cancel()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("service %s: %w", area, err)
	}
	return runErr
}
