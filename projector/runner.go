package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog/consumer"
	"crm/eventlog/pgmigrate"
)

// ChannelName is the Redis channel the projector announces changes on:
// "<ns>:changes".
func ChannelName(ns string) string { return ns + ":changes" }

// Announcement is what the projector publishes on ChannelName after each
// committed batch of one consumer, per projection that applied events: the
// message is a JSON array of them. Positions gives, for
// every partition the batch applied events of, its checkpoint after the
// commit: the log position of the last event applied. Changes names every
// row the batch changed, once each, in the order first changed (empty when
// its events changed nothing).
type Announcement struct {
	Projection string              `json:"projection"`
	Area       string              `json:"area"`
	Positions  []PartitionPosition `json:"positions"`
	Changes    []Change            `json:"changes"`
}

// PartitionPosition is one partition's checkpoint in an Announcement.
type PartitionPosition struct {
	Partition int   `json:"partition"`
	Position  int64 `json:"position"`
}

// Config configures a Runner. Zero values take the documented defaults.
type Config struct {
	// Pool is the read database.
	Pool *pgxpool.Pool
	// Schema holds the read models and checkpoints (default "read").
	Schema string
	// Redis carries the streams, leases and the changes channel.
	Redis redis.UniversalClient
	// Namespace prefixes every Redis key and channel (default "crm").
	Namespace string
	// Partitions of every area's log; must equal the relays' (default 8).
	Partitions int
	// Sources are the areas' logs, read when a partition catches up; every
	// source area of every projection must be present.
	Sources map[string]consumer.LogSource
	// Projections to run (default All()).
	Projections []Projection
	// ConsumerID names this process among projector processes (default:
	// the consumer framework's host-pid-random).
	ConsumerID string
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Consumer, when set, adjusts each consumer's configuration before it
	// is created (tests shorten leases and blocks). It must not change
	// Name, Area, Handler or AfterCommit.
	Consumer func(*consumer.Config)
}

func (c *Config) setDefaults() {
	if c.Schema == "" {
		c.Schema = "read"
	}
	if c.Namespace == "" {
		c.Namespace = "crm"
	}
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.Projections == nil {
		c.Projections = All()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem of the configuration (after defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("projector: Pool is required"))
	}
	if !pgmigrate.ValidIdent(c.Schema) {
		errs = append(errs, fmt.Errorf("projector: invalid Schema %q", c.Schema))
	}
	if c.Redis == nil {
		errs = append(errs, errors.New("projector: Redis is required"))
	}
	if len(c.Projections) == 0 {
		errs = append(errs, errors.New("projector: no Projections"))
	}
	seen := map[string]bool{}
	for _, p := range c.Projections {
		if seen[p.Name()] {
			errs = append(errs, fmt.Errorf("projector: projection %q twice", p.Name()))
		}
		seen[p.Name()] = true
		for _, a := range p.Sources() {
			if c.Sources[a] == nil {
				errs = append(errs, fmt.Errorf("projector: projection %s needs source %q", p.Name(), a))
			}
		}
	}
	return errors.Join(errs...)
}

// Runner runs one consumer per source area (leases named LeaseName), with
// a sink per projection that area feeds (checkpoints named
// "read.<projection>", so a projection can be rebuilt alone), and announces
// their commits. Several Runners (in several processes) may run against the
// same Redis and read database: the consumers share the partitions.
type Runner struct {
	cfg       Config
	log       *slog.Logger
	consumers []*run
}

// run is one consumer of the Runner: every projection fed by one area, a
// sink each.
type run struct {
	area  string
	projs []Projection
	c     *consumer.Consumer
}

// LeaseName is the consumer name (leases, membership) of the projector's
// consumer of each area; each projection is a sink of it with its own
// checkpoints, named ConsumerName(projection).
const LeaseName = "read"

// New validates cfg and builds the consumers. It fails on an invalid
// Config (of the Runner or of a consumer).
func New(cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, log: cfg.Logger}
	var areas []string
	byArea := map[string][]Projection{}
	for _, p := range cfg.Projections {
		for _, area := range p.Sources() {
			if byArea[area] == nil {
				areas = append(areas, area)
			}
			byArea[area] = append(byArea[area], p)
		}
	}
	for _, area := range areas {
		ru := &run{area: area, projs: byArea[area]}
		cc := consumer.Config{
			Name: LeaseName, Area: area, Namespace: cfg.Namespace, Partitions: cfg.Partitions,
			Redis: cfg.Redis, Pool: cfg.Pool, Schema: cfg.Schema, Source: cfg.Sources[area],
			ConsumerID: cfg.ConsumerID, Logger: cfg.Logger,
		}
		if cfg.Consumer != nil {
			cfg.Consumer(&cc)
		}
		cc.Name, cc.Area, cc.Handler, cc.Sinks = LeaseName, area, nil, nil
		for _, p := range ru.projs {
			cc.Sinks = append(cc.Sinks, consumer.Sink{Name: ConsumerName(p.Name()), Handler: handler(p, cfg.Schema, area)})
		}
		cc.AfterCommit = func(ctx context.Context, applied []consumer.Applied) { r.announce(ctx, ru, applied) }
		c, err := consumer.New(cc)
		if err != nil {
			return nil, fmt.Errorf("projector: consumer of %s: %w", area, err)
		}
		ru.c = c
		r.consumers = append(r.consumers, ru)
	}
	if rc, ok := cfg.Redis.(*redis.Client); ok && rc.Options().PoolSize < len(r.consumers)+2 {
		r.log.Warn("projector: Redis pool smaller than consumers+2; blocking reads will queue",
			"pool_size", rc.Options().PoolSize, "consumers", len(r.consumers))
	}
	return r, nil
}

// announce publishes the changes of one committed batch: one message, a
// JSON array with an Announcement per projection that applied events. A
// lost announcement delays a subscription push or a read-your-writes wait
// (which also polls checkpoints) but loses no data, so failures are logged
// only.
func (r *Runner) announce(ctx context.Context, ru *run, applied []consumer.Applied) {
	var out []Announcement
	for _, p := range ru.projs {
		name := ConsumerName(p.Name())
		a := Announcement{Projection: p.Name(), Area: ru.area, Changes: []Change{}}
		last := map[int]int64{}
		seen := map[[2]string]int{}
		for _, ap := range applied {
			if ap.Sink != name {
				continue
			}
			last[ap.Partition] = max(last[ap.Partition], ap.Event.Position)
			chs, _ := ap.Result.(*[]Change)
			if chs == nil {
				continue
			}
			for _, ch := range *chs {
				key := [2]string{ch.Kind, ch.ID}
				if i, ok := seen[key]; ok {
					a.Changes[i] = ch // the last refs are the committed ones
					continue
				}
				seen[key] = len(a.Changes)
				a.Changes = append(a.Changes, ch)
			}
		}
		if len(last) == 0 {
			continue
		}
		for p, pos := range last {
			a.Positions = append(a.Positions, PartitionPosition{Partition: p, Position: pos})
		}
		slices.SortFunc(a.Positions, func(x, y PartitionPosition) int { return x.Partition - y.Partition })
		out = append(out, a)
	}
	if len(out) == 0 {
		return
	}
	msg, err := json.Marshal(out)
	if err != nil {
		r.log.Error("projector: encode announcement", "area", ru.area, "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.cfg.Redis.Publish(pctx, ChannelName(r.cfg.Namespace), msg).Err(); err != nil {
		r.log.Warn("projector: announcement not published", "area", ru.area, "err", err)
	}
}

// Run runs every consumer until ctx is cancelled and returns nil after a
// clean stop. If a consumer cannot start (its tables are not migrated) the
// others are stopped and the error returned. It must be called once.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(r.consumers))
	var wg sync.WaitGroup
	for i, ru := range r.consumers {
		wg.Go(func() {
			if err := ru.c.Run(ctx); err != nil {
				errs[i] = fmt.Errorf("projector: consumer of %s: %w", ru.area, err)
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ConsumerStats are the counters of the consumer that feeds a projection
// from an area (shared by the projections that area feeds), for metrics.
type ConsumerStats struct {
	Projection string
	Area       string
	Stats      consumer.Stats
}

// Stats returns the counters of every consumer of this process.
func (r *Runner) Stats() []ConsumerStats {
	out := make([]ConsumerStats, 0, len(r.consumers))
	for _, ru := range r.consumers {
		st := ru.c.Stats()
		for _, p := range ru.projs {
			out = append(out, ConsumerStats{Projection: p.Name(), Area: ru.area, Stats: st})
		}
	}
	return out
}
