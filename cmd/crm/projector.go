package main

import (
	"context"
	"fmt"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/projector"
)

// runProjector runs every projection's consumers against the read
// database until ctx ends. Several processes may run at once: partitions
// are leased, each to one process at a time.
func runProjector(ctx context.Context, a *app, cfg Config) error {
	pool, err := openPool(ctx, cfg.DatabaseURLs[readComponent], cfg.poolSize(projectorConns()), "crm-projector")
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	defer pool.Close()
	logBudget(a.logger, processBudget(cfg, "projector", ""))
	ps := projector.All()
	if err := projector.Migrate(ctx, pool, readComponent, ps...); err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	consumers := int(projectorConns())
	rdb, err := openRedis(ctx, cfg.RedisURL, consumers+16)
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	defer rdb.Close()
	sources := map[string]consumer.LogSource{}
	for _, area := range areas {
		sources[area] = &eventlog.Client{BaseURL: cfg.ServiceURLs[area], Key: cfg.ServiceKey, Subject: "projector"}
	}
	r, err := projector.New(projector.Config{Pool: pool, Schema: readComponent, Redis: rdb, Namespace: cfg.Namespace,
		Sources: sources, Projections: ps, Logger: a.logger})
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	a.logger.Info("projector running", "projections", len(ps), "consumers", consumers)
	return r.Run(ctx)
}
