package kit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/relay"
	"crm/eventlog/svcauth"
)

// AreaConfig is what every area process needs. The area's schema is its
// name, in Pool's database.
type AreaConfig struct {
	Pool *pgxpool.Pool
	// ConsumerPool, on the same database as Pool, serves the consumers'
	// apply transactions (default Pool). A reaction runs inside its
	// consumer's transaction and then reads and appends through Pool, so
	// with a pool of their own the consumers can never hold every
	// connection a reaction waits for.
	ConsumerPool *pgxpool.Pool
	Redis        redis.UniversalClient
	Namespace    string
	// Partitions of every area's log in Redis (default 8).
	Partitions int
	// RelayMaxLen trims each partition stream (0: relay's default).
	RelayMaxLen int64
	// Sources are the other areas' logs, by area name, read by this
	// area's consumers when they must catch up (eventlog.Client).
	Sources map[string]consumer.LogSource
	// ConsistencyWait bounds a command's wait for a consistency token
	// (default 5s).
	ConsistencyWait time.Duration
	// ConsumerID names this process among the consumers (default: the
	// consumer framework's host-pid-random).
	ConsumerID string
	Logger     *slog.Logger
	// ServiceKey verifies the service credential every caller of the
	// area's command and log API must send (kit.Mux); required.
	ServiceKey *svcauth.Key
}

func (c *AreaConfig) setDefaults() {
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.ConsistencyWait == 0 {
		c.ConsistencyWait = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ConsumerPool == nil {
		c.ConsumerPool = c.Pool
	}
}

// MigrateArea applies the migrations of everything an area keeps in its
// schema: the log, the relay's progress, the consumers' checkpoints, the
// replica, and the area's own tables (own may be nil).
func MigrateArea(ctx context.Context, pool *pgxpool.Pool, area string, own func(context.Context, *pgxpool.Pool, string) error) error {
	steps := []func(context.Context, *pgxpool.Pool, string) error{
		eventlog.Migrate, relay.Migrate, consumer.Migrate, MigrateReplica}
	if own != nil {
		steps = append(steps, own)
	}
	for _, m := range steps {
		if err := m(ctx, pool, area); err != nil {
			return fmt.Errorf("migrate %s: %w", area, err)
		}
	}
	return nil
}

// Subscription is what an area does with another area's events: keep its
// replica and react. Both run in one consumer (named after the consuming
// area) so a reaction never sees a replica older than its own event.
type Subscription struct {
	Source   string
	Handlers []consumer.Handler
}

// Area is one running area: its log, command API, relay and consumers.
type Area struct {
	Name      string
	Log       *eventlog.Log
	Handler   http.Handler
	Relay     *relay.Relay
	Consumers []*consumer.Consumer
	log       *slog.Logger
}

// OpenLog migrates the area's schema and opens its log.
func OpenLog(ctx context.Context, area string, cfg AreaConfig, inline func([]eventlog.Event) ([]eventlog.Statement, error),
	own func(context.Context, *pgxpool.Pool, string) error) (*eventlog.Log, error) {
	cfg.setDefaults()
	if err := MigrateArea(ctx, cfg.Pool, area, own); err != nil {
		return nil, err
	}
	return eventlog.Open(ctx, eventlog.Config{Pool: cfg.Pool, Schema: area, Inline: inline, Logger: cfg.Logger})
}

// NewArea assembles an area around its open log.
func NewArea(area string, cfg AreaConfig, log *eventlog.Log, routes []Route, subs ...Subscription) (*Area, error) {
	cfg.setDefaults()
	if cfg.ServiceKey == nil {
		return nil, fmt.Errorf("%s: ServiceKey is required", area)
	}
	r, err := relay.New(relay.Config{Pool: cfg.Pool, Schema: area, Area: area, Source: log, Redis: cfg.Redis,
		Namespace: cfg.Namespace, Partitions: cfg.Partitions, MaxLen: cfg.RelayMaxLen, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	a := &Area{Name: area, Log: log, Handler: Mux(log, cfg.ServiceKey, routes...), Relay: r, log: cfg.Logger.With("area", area)}
	for _, s := range subs {
		src, ok := cfg.Sources[s.Source]
		if !ok {
			return nil, fmt.Errorf("%s: no log source for area %s", area, s.Source)
		}
		handlers := s.Handlers
		c, err := consumer.New(consumer.Config{
			Name: area, Area: s.Source, Namespace: cfg.Namespace, Partitions: cfg.Partitions,
			Redis: cfg.Redis, Pool: cfg.ConsumerPool, Schema: area, Source: src, ConsumerID: cfg.ConsumerID, Logger: cfg.Logger,
			Handler: consumer.HandlerFunc(func(ctx context.Context, b *consumer.Batch, ev eventlog.Event) (any, error) {
				for _, h := range handlers {
					if _, err := h.Apply(ctx, b, ev); err != nil {
						return nil, err
					}
				}
				return nil, nil
			}),
		})
		if err != nil {
			return nil, err
		}
		a.Consumers = append(a.Consumers, c)
	}
	return a, nil
}

// Run runs the relay and the consumers until ctx ends, then stops them
// gracefully. It returns the first error any of them stopped with.
func (a *Area) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1+len(a.Consumers))
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				a.log.Error("stopped", "component", name, "err", err)
				errs <- fmt.Errorf("%s %s: %w", a.Name, name, err)
				cancel()
			}
		}()
	}
	run("relay", a.Relay.Run)
	for _, c := range a.Consumers {
		run("consumer of "+c.Config().Area, c.Run)
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
