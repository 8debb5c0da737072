// Package consumer follows one area's event log through its Redis stream
// partitions and applies every event exactly once, in per-stream order, to
// the consumer's own PostgreSQL database. The read side's projector and the
// areas' local replicas of other areas are built on it.
//
// Guarantees, and what provides them:
//   - Exactly once and in order: each partition has a checkpoint row in the
//     consumer's database. One goroutine per consumer reads every partition
//     it owns with one blocking XREAD from its checkpoints, and applies what
//     it got as one batch: a single round trip whose first statement moves
//     each partition's checkpoint only from the position the consumer
//     expects (consumer_advance, failing the whole transaction otherwise),
//     followed by the handlers' statements. The batch and the checkpoints
//     commit together or not at all; the checkpoint check, not the lease,
//     is what makes two consumers that overlap harmless.
//   - Nothing skipped: every stream entry carries the position of the
//     previous entry of its partition; when that lies beyond the checkpoint
//     (entries trimmed, or lost with Redis) the partition catches up from
//     the area's log (LogSource), as it does whenever it is taken over and
//     whenever its lease is found gone (Redis emptied), then follows the
//     stream again. A catch-up reads the log once for all the partitions
//     that need it.
//   - One owner per partition: a lease in Redis, renewed while the owner
//     lives, spread fairly over the live consumers of the same name.
//   - A poison event is retried with backoff, then parked in a dead-letter
//     table (in the batch that moves the checkpoint past it) and in a
//     dead-letter stream; its partition moves on and the others never stop.
//
// See docs/consumer.md.
package consumer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/pgmigrate"
)

// Handler applies events by queueing statements on the consumer's Batch.
//
// Apply is called for each event once per attempt, in position order
// within a partition (events of different partitions of one batch come in
// any order), from one goroutine. It must not run the statements itself:
// the consumer sends the batch, with the checkpoints, in one round trip and
// one transaction. Its result (for example a pointer that the statements'
// scan callbacks fill in) is handed to AfterCommit once the batch has
// committed: that is how a handler tells what it changed.
//
// An error returned by Apply, or a failure of one of the statements it
// queued (or a panic), counts as a failed attempt of that event: the event
// is left out and retried with backoff, and after MaxAttempts failures
// parked as a dead letter; other partitions' events still commit. Errors
// that mean the database is unreachable or a transaction conflict (SQLSTATE
// classes 08, 40, 53, 57 except 57014, 58; errcode UNAVAILABLE) are retried
// without counting.
type Handler interface {
	Apply(ctx context.Context, b *Batch, ev eventlog.Event) (result any, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, b *Batch, ev eventlog.Event) (any, error)

// Apply calls f.
func (f HandlerFunc) Apply(ctx context.Context, b *Batch, ev eventlog.Event) (any, error) {
	return f(ctx, b, ev)
}

// Applied is one event a committed batch applied, with its partition, the
// sink that applied it and what that sink's handler returned for it.
type Applied struct {
	Event     eventlog.Event
	Partition int
	Sink      string
	Result    any
}

// Sink is one handler of a consumer with its own progress: checkpoint rows
// and dead letters under its Name. Sinks of one consumer share its reads,
// leases and batches, so one stream read and one transaction serve them
// all; each skips what it has already applied (a rebuilt read model may be
// ahead of or behind the others).
type Sink struct {
	Name    string
	Handler Handler
}

// LogSource reads the followed area's log, the source of truth that a
// partition catches up from. ReadLog returns up to limit events with
// position > after in log order (positions contiguous from 1), and an empty
// slice once after is the head. *eventlog.Log and *eventlog.Client satisfy it.
type LogSource interface {
	ReadLog(ctx context.Context, after int64, limit int) ([]eventlog.Event, error)
}

// Config configures a Consumer. Zero values take the documented defaults.
type Config struct {
	// Name identifies the consumer (e.g. "projector"): its Redis consumer
	// group, leases and checkpoint rows. Consumers with the same Name share
	// the partitions of Area between them. Letters, digits, '_', '.', '-'.
	Name string
	// Area is the followed area (e.g. "customers"). Same characters as Name.
	Area string
	// Namespace prefixes every Redis key (CRM_NAMESPACE).
	Namespace string
	// Partitions is the number of partitions of the area's log; it must
	// equal the relay's. Default 8.
	Partitions int
	// Redis carries the streams, leases and dead-letter stream. A consumer
	// holds one connection for its blocking reads (of every partition it
	// owns) and uses another now and then for leases.
	Redis redis.UniversalClient
	// Pool is the consumer's own database, where Handler writes.
	Pool *pgxpool.Pool
	// Schema holds the checkpoint and dead-letter tables (see Migrate).
	Schema string
	// Source is the area's log, read when a partition must catch up.
	Source LogSource
	// Handler applies events (the consumer's one sink, named Name).
	Handler Handler
	// Sinks, when set instead of Handler, are several handlers fed by this
	// consumer, each with its own checkpoints and dead letters (e.g. one
	// per read model). Name then names only the leases and membership.
	Sinks []Sink
	// ConsumerID names this process among consumers of the same Name.
	// Default "<host>-<pid>-<random>".
	ConsumerID string
	// LeaseTTL is how long a partition lease outlives its last renewal,
	// hence how soon a dead consumer's partitions are taken over. Leases
	// are renewed every LeaseTTL/3. Default 10s.
	LeaseTTL time.Duration
	// BatchSize caps the entries read per partition in one stream read;
	// a batch applies what one read returned for all owned partitions, so
	// batches grow with load and are one event when traffic is light.
	// Default 100.
	BatchSize int
	// Block is how long one stream read waits for new entries when nothing
	// is there: the only Redis traffic of an idle consumer besides lease
	// renewals. Ownership changes and stops interrupt it (CLIENT UNBLOCK)
	// when Redis is a *redis.Client. Default 5s; never 0 (which would mean
	// forever in Redis).
	Block time.Duration
	// MaxAttempts is how many times a failing event is tried before it is
	// parked. Default 5.
	MaxAttempts int
	// Backoff is the first retry delay, doubled up to MaxBackoff, after a
	// handler, database or Redis failure. Defaults 100ms and 5s.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// AfterCommit, when set, is called after each committed batch that
	// applied events, with those events (in position order within each
	// partition) and the handler's results (e.g. to announce changes). It
	// is called from the consumer's goroutine and should not block.
	AfterCommit func(ctx context.Context, applied []Applied)
	// Logger receives warnings and errors (default slog.Default()).
	Logger *slog.Logger
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

func (c *Config) setDefaults() {
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.ConsumerID == "" {
		host, _ := os.Hostname()
		c.ConsumerID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), newToken()[:8])
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.Block <= 0 {
		c.Block = 5 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = c.Backoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.Sinks) == 0 && c.Handler != nil {
		c.Sinks = []Sink{{Name: c.Name, Handler: c.Handler}}
	}
}

// Validate reports every problem of the configuration (after defaults).
func (c Config) Validate() error {
	var errs []error
	if !nameRE.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("consumer: invalid Name %q", c.Name))
	}
	if !nameRE.MatchString(c.Area) {
		errs = append(errs, fmt.Errorf("consumer: invalid Area %q", c.Area))
	}
	if c.Namespace == "" {
		errs = append(errs, errors.New("consumer: Namespace is required"))
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("consumer: Partitions %d out of 1..1024", c.Partitions))
	}
	if c.Redis == nil {
		errs = append(errs, errors.New("consumer: Redis is required"))
	}
	if c.Pool == nil {
		errs = append(errs, errors.New("consumer: Pool is required"))
	}
	if !pgmigrate.ValidIdent(c.Schema) {
		errs = append(errs, fmt.Errorf("consumer: invalid Schema %q", c.Schema))
	}
	if c.Source == nil {
		errs = append(errs, errors.New("consumer: Source is required"))
	}
	if len(c.Sinks) == 0 {
		errs = append(errs, errors.New("consumer: Handler or Sinks is required"))
	}
	seen := map[string]bool{}
	for _, s := range c.Sinks {
		if !nameRE.MatchString(s.Name) || seen[s.Name] || s.Handler == nil {
			errs = append(errs, fmt.Errorf("consumer: invalid or repeated sink %q (or no Handler)", s.Name))
		}
		seen[s.Name] = true
	}
	if c.ConsumerID == "" || len(c.ConsumerID) > 200 {
		errs = append(errs, fmt.Errorf("consumer: invalid ConsumerID %q", c.ConsumerID))
	}
	return errors.Join(errs...)
}

// State is what an owned partition is doing.
type State string

// Partition states reported by Stats.
const (
	// StateNotOwned: another consumer (or none) holds the partition.
	StateNotOwned State = "NOT_OWNED"
	// StateRunning: following the Redis stream.
	StateRunning State = "RUNNING"
	// StateCatchingUp: reading the area's log to fill a gap.
	StateCatchingUp State = "CATCHING_UP"
)

// PartitionStats describes one partition as this consumer sees it.
type PartitionStats struct {
	Partition int
	Owned     bool
	State     State
	// Checkpoint is the last checkpoint this consumer read or committed
	// (kept after ownership moves on; Checkpoints reads the database).
	Checkpoint int64
}

// Stats are this process's counters since New.
type Stats struct {
	Partitions []PartitionStats
	// Applied counts events the handler applied and committed.
	Applied int64
	// Skipped counts deliveries at or below the checkpoint (duplicates).
	Skipped int64
	// DeadLettered counts events this process parked.
	DeadLettered int64
	// CatchUps counts catch-ups from the log that ran to the log's end.
	CatchUps int64
}

type partStats struct {
	owned      atomic.Bool
	state      atomic.Value // State
	checkpoint atomic.Int64
}

// Consumer applies one area's events for one consumer name. Create it with
// New and start it with Run.
type Consumer struct {
	cfg Config
	q   queries
	log *slog.Logger

	names      []string // the sinks' names
	membersKey string

	parts                                 []partStats
	applied, skipped, deadLettered, catch atomic.Int64

	running atomic.Bool

	// Test hooks, set only in-package: noLease makes the consumer own every
	// partition without leases (to prove correctness does not need them);
	// crash stops without releasing leases or acknowledging entries.
	noLease   bool
	crashed   atomic.Bool
	crashOnce sync.Once
	crashCh   chan struct{}
}

// New validates cfg and returns a Consumer. It fails on an invalid Config.
func New(cfg Config) (*Consumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:        cfg,
		q:          newQueries(cfg.Schema),
		log:        cfg.Logger.With("consumer", cfg.Name, "area", cfg.Area, "consumer_id", cfg.ConsumerID),
		membersKey: fmt.Sprintf("%s:consumers:%s:%s", cfg.Namespace, cfg.Name, cfg.Area),
		parts:      make([]partStats, cfg.Partitions),
		crashCh:    make(chan struct{}),
	}
	for i := range c.parts {
		c.parts[i].state.Store(StateNotOwned)
	}
	for _, s := range cfg.Sinks {
		c.names = append(c.names, s.Name)
	}
	return c, nil
}

// Config returns the configuration in effect (with defaults).
func (c *Consumer) Config() Config { return c.cfg }

// dlqKey is the dead-letter stream of sink name.
func (c *Consumer) dlqKey(name string) string {
	return fmt.Sprintf("%s:dlq:%s:%s", c.cfg.Namespace, name, c.cfg.Area)
}

// leasesKey is the hash of partition owners: field p is the consumer id
// holding partition p.
func (c *Consumer) leasesKey() string {
	return fmt.Sprintf("%s:leases:%s:%s", c.cfg.Namespace, c.cfg.Name, c.cfg.Area)
}

// Stats returns a snapshot of the partitions and counters; safe to call at
// any time from any goroutine.
func (c *Consumer) Stats() Stats {
	s := Stats{
		Partitions:   make([]PartitionStats, len(c.parts)),
		Applied:      c.applied.Load(),
		Skipped:      c.skipped.Load(),
		DeadLettered: c.deadLettered.Load(),
		CatchUps:     c.catch.Load(),
	}
	for i := range c.parts {
		s.Partitions[i] = PartitionStats{
			Partition:  i,
			Owned:      c.parts[i].owned.Load(),
			State:      c.parts[i].state.Load().(State),
			Checkpoint: c.parts[i].checkpoint.Load(),
		}
	}
	return s
}

// Run takes partitions and applies their events until ctx is cancelled; it
// blocks. On cancellation it lets each partition finish the batch in hand
// (for at most LeaseTTL), releases its leases and returns nil. Redis and
// database failures are logged and retried with backoff, never returned. It
// fails at once when the checkpoint tables are missing (Migrate not run) or
// when called a second time.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("consumer: Run called twice")
	}
	if err := c.checkMigrated(ctx); err != nil {
		return err
	}
	m := newManager(ctx, c)
	return m.run(ctx)
}

// checkMigrated fails when the database answers that the tables are
// missing; an unreachable database is left to the retry loops.
func (c *Consumer) checkMigrated(ctx context.Context) error {
	var ok bool
	err := c.cfg.Pool.QueryRow(ctx, c.q.migrated, c.cfg.Schema+".consumer_checkpoints",
		c.cfg.Schema+".consumer_advance(text[],text,integer[],bigint[],bigint[])").Scan(&ok)
	if err != nil {
		c.log.Warn("consumer: cannot check migrations; continuing", "err", err)
		return nil
	}
	if !ok {
		return fmt.Errorf("consumer %s/%s: schema %s not migrated (run crm migrate)", c.cfg.Name, c.cfg.Area, c.cfg.Schema)
	}
	return nil
}

// crash simulates the process dying: everything stops at once, nothing in
// flight commits, no entry is acknowledged and no lease released. Tests only.
func (c *Consumer) crash() {
	c.crashOnce.Do(func() {
		c.crashed.Store(true)
		close(c.crashCh)
	})
}

// backoff returns the delay before retry n (1-based): Backoff doubled per
// retry up to MaxBackoff, with up to 20% jitter so that consumers that
// failed together do not retry together.
func (c *Consumer) backoff(n int) time.Duration {
	d := c.cfg.Backoff
	for i := 1; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	var b [1]byte
	_, _ = rand.Read(b[:])
	return d - d*time.Duration(b[0])/(5*256)
}

// newToken is a random hex string of 16 bytes.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
