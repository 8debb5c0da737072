// Package relay copies an area's event log into Redis Streams, in log
// order, without ever skipping an event.
//
// The log is split into partitions by eventlog.Partition(streamID, n);
// partition p goes to the Redis stream eventlog.StreamKey(ns, area, p).
// Each entry has the explicit id eventlog.EntryID(position) and carries the
// position of the previous event of its partition (eventlog.EncodeEntry), so
// a re-sent entry is refused by Redis and a consumer notices missing ones.
//
// One relay is active per area, however many service processes run one:
// the active relay holds a session-level advisory lock; the others wait in
// standby and take over when the lock's connection goes away. Progress is
// recorded in the area's database after each batch of XADDs succeeded, so a
// crash causes at most re-sends, never loss. See docs/relay.md.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/pgmigrate"
)

// Source is the area's log as the relay reads it. *eventlog.Log (and
// *eventlog.Client) satisfy it.
type Source interface {
	// ReadLog returns up to limit events after position after, in log
	// order; positions are contiguous from 1.
	ReadLog(ctx context.Context, after int64, limit int) ([]eventlog.Event, error)
}

// Defaults of Config.
const (
	DefaultPartitions   = 8
	DefaultBatchSize    = 1000
	DefaultMaxLen       = 100000
	DefaultPollInterval = time.Second
)

// NoTrim as Config.MaxLen turns trimming off.
const NoTrim int64 = -1

// Config configures a Relay.
type Config struct {
	// Pool is the area's database: the relay records its progress there
	// and holds its advisory lock on a dedicated connection built from the
	// pool's connection config.
	Pool *pgxpool.Pool
	// Schema holds the area's log (its NOTIFY channel) and the relay's
	// progress table.
	Schema string
	// Area names the area in the Redis stream keys.
	Area string
	// Source is the log to copy.
	Source Source
	// Redis receives the streams.
	Redis redis.UniversalClient
	// Namespace prefixes every Redis key.
	Namespace string
	// Partitions is the number of partition streams (default 8). It must
	// not change once the relay has recorded progress: Run refuses to
	// start then.
	Partitions int
	// BatchSize is the most events read and pipelined at once (default
	// 1000, at most eventlog.MaxReadLimit).
	BatchSize int
	// MaxLen is the approximate ("MAXLEN ~") length each partition stream
	// is trimmed to on every XADD: 0 means DefaultMaxLen, NoTrim (or any
	// negative value) means no trimming.
	MaxLen int64
	// PollInterval is the standby's retry interval for the lock and the
	// base of the failure backoff (default 1s).
	PollInterval time.Duration
	// SafetyPoll is how often the relay reads the log with no NOTIFY
	// (default 30s). A NOTIFY on the relay's own session cannot be missed
	// while the session lives (a broken session ends the relay's lock), so
	// this only bounds the damage of a bug; an idle relay issues nothing
	// in between.
	SafetyPoll time.Duration
	// Logger receives state changes and errors (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxLen == 0 {
		c.MaxLen = DefaultMaxLen
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.SafetyPoll <= 0 {
		c.SafetyPoll = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("relay: Pool is required"))
	}
	if !pgmigrate.ValidIdent(c.Schema) {
		errs = append(errs, fmt.Errorf("relay: invalid Schema %q", c.Schema))
	}
	if c.Area == "" {
		errs = append(errs, errors.New("relay: Area is required"))
	}
	if c.Source == nil {
		errs = append(errs, errors.New("relay: Source is required"))
	}
	if c.Redis == nil {
		errs = append(errs, errors.New("relay: Redis is required"))
	}
	if c.Namespace == "" {
		errs = append(errs, errors.New("relay: Namespace is required"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("relay: Partitions must be positive, got %d", c.Partitions))
	}
	if c.BatchSize < 1 || c.BatchSize > eventlog.MaxReadLimit {
		errs = append(errs, fmt.Errorf("relay: BatchSize must be in 1..%d, got %d", eventlog.MaxReadLimit, c.BatchSize))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("relay: negative PollInterval %v", c.PollInterval))
	}
	return errors.Join(errs...)
}

// Stats is a snapshot of a relay's counters, for metrics.
type Stats struct {
	// Active is true while this relay holds the area's lock.
	Active bool
	// Position is the last log position this relay copied into Redis.
	Position int64
	// Relayed counts events copied (re-sends refused by Redis included).
	Relayed uint64
	// Resent counts entries Redis refused because it already had them.
	Resent uint64
	// Errors counts failed attempts (Redis, PostgreSQL), each retried.
	Errors uint64
}

// Relay copies one area's log into Redis Streams. Create it with New and
// call Run once.
type Relay struct {
	cfg        Config
	keys       []string // stream key per partition
	relayedKey string   // eventlog.RelayedKey
	lockName   string
	log        *slog.Logger

	running  atomic.Bool
	active   atomic.Bool
	position atomic.Int64
	relayed  atomic.Uint64
	resent   atomic.Uint64
	errs     atomic.Uint64

	// afterXADD, when set (tests only), runs after a batch's XADDs
	// succeeded and before its progress is recorded; returning true
	// simulates a crash there: Run returns errCrash at once, recording
	// nothing and dropping the lock's connection.
	afterXADD func() bool

	// lockPID is the backend pid of the lock's connection while active,
	// so tests can break that connection.
	lockPID atomic.Uint32
}

// New checks cfg (defaults applied) and returns a relay ready to Run.
func New(cfg Config) (*Relay, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys := make([]string, cfg.Partitions)
	for p := range keys {
		keys[p] = eventlog.StreamKey(cfg.Namespace, cfg.Area, p)
	}
	return &Relay{
		cfg:        cfg,
		keys:       keys,
		relayedKey: eventlog.RelayedKey(cfg.Namespace, cfg.Area),
		lockName:   "crm/relay:" + cfg.Schema + ":" + cfg.Area,
		log:        cfg.Logger.With("area", cfg.Area, "schema", cfg.Schema),
	}, nil
}

// Stats returns a snapshot of the relay's counters. Safe to call any time.
func (r *Relay) Stats() Stats {
	return Stats{
		Active:   r.active.Load(),
		Position: r.position.Load(),
		Relayed:  r.relayed.Load(),
		Resent:   r.resent.Load(),
		Errors:   r.errs.Load(),
	}
}

// errCrash is returned by Run when the afterXADD test hook simulates a crash.
var errCrash = errors.New("relay: simulated crash")

// fatalError marks errors Run gives up on (a misconfiguration that retrying
// cannot fix).
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

// Run relays until ctx is done, then finishes the batch in hand, records
// its progress, releases the lock and returns nil. It applies the relay's
// migrations first. While another process's relay holds the area's lock it
// waits in standby, retrying every PollInterval. Failures of Redis or
// PostgreSQL are logged, counted and retried with backoff, never skipped.
// It returns an error only for a misconfiguration retrying cannot fix
// (Partitions differs from the recorded progress), or when called twice.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("relay: Run called twice")
	}
	if !r.migrate(ctx) {
		return nil
	}
	var ls *lockSession
	defer func() {
		if ls != nil {
			ls.close()
		}
	}()
	bo := newBackoff(r.cfg.PollInterval)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if ls == nil {
			var err error
			if ls, err = r.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.fail("connect for the relay lock", err)
				if !sleep(ctx, bo.next()) {
					return nil
				}
				continue
			}
		}
		got, err := ls.tryLock(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			r.fail("try the relay lock", err)
			ls.close()
			ls = nil
			if !sleep(ctx, bo.next()) {
				return nil
			}
			continue
		case !got:
			bo.reset()
			if !sleep(ctx, r.cfg.PollInterval) {
				return nil
			}
			continue
		}
		err = r.activeLoop(ctx, ls)
		if r.active.Swap(false) {
			bo.reset() // it did relay: a new failure starts a new backoff
		}
		switch {
		case errors.Is(err, errCrash):
			return err
		case errors.As(err, new(fatalError)):
			r.log.Error("relay stopped", "err", err)
			return err
		case ctx.Err() != nil:
			ls.unlock()
			r.log.Info("relay stopped", "position", r.position.Load())
			return nil
		}
		// The lock's connection broke (or progress could not be loaded):
		// another relay may take over; go back to standby on a new
		// connection.
		r.fail("active relay", err)
		ls.close()
		ls = nil
		if !sleep(ctx, bo.next()) {
			return nil
		}
	}
}

// migrate applies the relay's migrations, retrying until it works or ctx
// ends (false).
func (r *Relay) migrate(ctx context.Context) bool {
	bo := newBackoff(r.cfg.PollInterval)
	for {
		err := Migrate(ctx, r.cfg.Pool, r.cfg.Schema)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.fail("migrate", err)
		if !sleep(ctx, bo.next()) {
			return false
		}
	}
}

// fail counts and logs a failed attempt.
func (r *Relay) fail(what string, err error) {
	r.errs.Add(1)
	r.log.Warn("relay: "+what+" failed; retrying", "position", r.position.Load(), "err", err)
}

// backoff doubles a wait from 20ms up to a cap.
type backoff struct{ cur, max time.Duration }

func newBackoff(poll time.Duration) *backoff {
	return &backoff{max: max(2*time.Second, poll)}
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = 20 * time.Millisecond
	} else if b.cur < b.max {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
