package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/graph/svc"
	"crm/projector"
	"crm/services/kit"
)

// lazySource reads an area's log once the area is open: areas are opened
// one after another, but each one's consumers need the others' logs.
type lazySource struct {
	mu  sync.Mutex
	log *eventlog.Log
}

func (s *lazySource) set(l *eventlog.Log) {
	s.mu.Lock()
	s.log = l
	s.mu.Unlock()
}

func (s *lazySource) get() (*eventlog.Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return nil, errors.New("area not open yet")
	}
	return s.log, nil
}

func (s *lazySource) ReadLog(ctx context.Context, after int64, limit int) ([]eventlog.Event, error) {
	l, err := s.get()
	if err != nil {
		return nil, err
	}
	return l.ReadLog(ctx, after, limit)
}

func (s *lazySource) Head(ctx context.Context) (int64, error) {
	l, err := s.get()
	if err != nil {
		return 0, err
	}
	return l.Head(ctx)
}

// runDev runs everything in one process: the four areas with their relays
// and consumers, the projector and the gateway. Migrations are applied at
// start; only the gateway listens, the services are reached in-process.
func runDev(ctx context.Context, a *app, cfg Config) error {
	// Two pools per database, each sized by the components sharing it
	// (budget.go): one for logs, reads and the gateway, one for the
	// consumers' apply transactions (a reaction holds one of those while it
	// reads and appends through the first).
	pools := newPoolSet(cfg.DatabaseURLs, func(u string) (*pgxpool.Pool, error) {
		return openPool(ctx, u, devLogSize(cfg, u), "crm-dev")
	})
	defer pools.close()
	applyPools := newPoolSet(cfg.DatabaseURLs, func(u string) (*pgxpool.Pool, error) {
		return connectPool(ctx, u, devApplySize(cfg, u), "crm-dev-consumers")
	})
	defer applyPools.close()
	rdb, err := openRedis(ctx, cfg.RedisURL, 64)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer rdb.Close()

	lazy := map[string]*lazySource{}
	sources := map[string]consumer.LogSource{}
	heads := map[string]projector.HeadReader{}
	for _, area := range areas {
		lazy[area] = &lazySource{}
		sources[area], heads[area] = lazy[area], lazy[area]
	}
	var runners []func(context.Context) error
	transport := svc.HandlerTransport{}
	urls := map[string]string{}
	for _, area := range areas {
		p, err := pools.get(area)
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		ap := p
		if serviceApplyConns(area) > 0 {
			if ap, err = applyPools.get(area); err != nil {
				return fmt.Errorf("dev: %w", err)
			}
		}
		ar, err := areaDefs[area].open(ctx, kit.AreaConfig{Pool: p, ConsumerPool: ap, Redis: rdb, Namespace: cfg.Namespace, Sources: sources, Logger: a.logger,
			ServiceKey: cfg.ServiceKey})
		if err != nil {
			return fmt.Errorf("dev: %s: %w", area, err)
		}
		defer ar.Log.Close()
		lazy[area].set(ar.Log)
		transport[area] = ar.Handler
		urls[area] = "http://" + area
		runners = append(runners, ar.Run)
	}
	readPool, err := pools.get(readComponent)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	if err := projector.Migrate(ctx, readPool, readComponent, projector.All()...); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	projPool, err := applyPools.get(readComponent)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	logBudget(a.logger, processBudget(cfg, "dev", ""))
	proj, err := projector.New(projector.Config{Pool: projPool, Schema: readComponent, Redis: rdb, Namespace: cfg.Namespace,
		Sources: sources, Projections: projector.All(), Logger: a.logger})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	runners = append(runners, proj.Run)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(runners)+1)
	for _, run := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	err = serveGateway(ctx, a, cfg, gatewayParts{readPool: readPool, rdb: rdb, urls: urls,
		client: &http.Client{Transport: transport}, heads: heads})
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
}
