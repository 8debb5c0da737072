package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/cmd/crm/dbcalls"
	"crm/services/appointments"
	"crm/services/campaigns"
	"crm/services/customers"
	"crm/services/kit"
	"crm/services/relationships"
)

// areaDef is how crm opens and migrates one area.
type areaDef struct {
	open func(context.Context, kit.AreaConfig) (*kit.Area, error)
	// own migrates the area's own tables (nil: none besides the kit's).
	own func(context.Context, *pgxpool.Pool, string) error
	// consumers is how many consumers of other areas the area runs (the
	// Subscriptions its open passes to kit.NewArea): its consumer pool's
	// size (budget.go).
	consumers int
}

var areaDefs = map[string]areaDef{
	"customers":     {open: customers.Open},
	"relationships": {open: relationships.Open, consumers: 2},
	"appointments":  {open: appointments.Open, own: appointments.Migrate, consumers: 2},
	"campaigns":     {open: campaigns.Open, own: campaigns.Migrate, consumers: 1},
}

// dbCalls counts this process's statements to PostgreSQL and commands to
// Redis, for /metrics: every pool and Redis client crm opens feeds it.
var dbCalls = dbcalls.New()

// openPool creates the database when missing and opens a pool on it.
func openPool(ctx context.Context, dbURL string, maxConns int32, name string) (*pgxpool.Pool, error) {
	if err := ensureDatabase(ctx, dbURL); err != nil {
		return nil, err
	}
	return connectPool(ctx, dbURL, maxConns, name)
}

// connectPool opens a pool on an existing database, of at most maxConns
// connections (0: pgx's default) whose sessions carry application_name
// name (budget.go), and checks that it answers.
func connectPool(ctx context.Context, dbURL string, maxConns int32, name string) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, errors.New("invalid PostgreSQL URL")
	}
	tunePool(pcfg, maxConns, name)
	dbCalls.TracePool(pcfg)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open pool %s: %w", redactURL(dbURL), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", redactURL(dbURL), err)
	}
	return pool, nil
}

// poolSet opens one pool per distinct database URL of the components it is
// asked for (components sharing a database share its pool, each keeping
// to its own schema) and closes them all at the end.
type poolSet struct {
	urls  map[string]string // component → database URL
	open  func(dbURL string) (*pgxpool.Pool, error)
	pools map[string]*pgxpool.Pool
}

func newPoolSet(urls map[string]string, open func(dbURL string) (*pgxpool.Pool, error)) *poolSet {
	return &poolSet{urls: urls, open: open, pools: map[string]*pgxpool.Pool{}}
}

// get returns the pool of component's database, opening it the first time.
func (s *poolSet) get(component string) (*pgxpool.Pool, error) {
	u := s.urls[component]
	if p, ok := s.pools[u]; ok {
		return p, nil
	}
	p, err := s.open(u)
	if err != nil {
		return nil, fmt.Errorf("%s database: %w", component, err)
	}
	s.pools[u] = p
	return p, nil
}

// close closes every pool opened.
func (s *poolSet) close() {
	for _, p := range s.pools {
		p.Close()
	}
}

// openRedis connects to Redis with a pool large enough for the blocking
// reads of every partition this process may own.
func openRedis(ctx context.Context, redisURL string, poolSize int) (*redis.Client, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, errors.New("invalid Redis URL")
	}
	opt.PoolSize = max(opt.PoolSize, poolSize)
	rdb := redis.NewClient(opt)
	rdb.AddHook(dbCalls.RedisHook())
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("Redis at %s: %w", redactURL(redisURL), err)
	}
	return rdb, nil
}

// serve runs srv on ln until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		logger.Warn("http shutdown", "addr", ln.Addr().String(), "err", err)
	}
	return nil
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
}
