package eventlog

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the log's tables in schema. Idempotent, and
// safe to run from several processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return pgmigrate.Apply(ctx, pool, schema, "eventlog", migrations)
}

// ErrVersionConflict is matched (errors.Is) by every *VersionConflictError.
var ErrVersionConflict = errors.New("eventlog: version conflict")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("eventlog: log closed")

// VersionConflictError says a stream was not at the expected version.
type VersionConflictError struct {
	StreamID string
	Expected int64
	Actual   int64
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("eventlog: stream %s is at version %d, expected %d", e.StreamID, e.Actual, e.Expected)
}

// Is makes errors.Is(err, ErrVersionConflict) true.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }

// StreamAppend is the part of an append that goes to one stream.
type StreamAppend struct {
	StreamID string
	// ExpectedVersion is the version the stream must be at: NoStream (0)
	// for a new stream, AnyVersion (-1) for no check, or an exact version.
	ExpectedVersion int64
	Events          []NewEvent
}

// AppendResult is the outcome of an append.
type AppendResult struct {
	// Events are the recorded events in log order. For a Duplicate they are
	// the events the first append with the same idempotency key recorded.
	Events []Event
	// Duplicate is true when the idempotency key had been recorded before
	// and this append recorded nothing.
	Duplicate bool
}

// LastPosition is the log position of the last recorded event (0 if none).
func (r AppendResult) LastPosition() int64 {
	if len(r.Events) == 0 {
		return 0
	}
	return r.Events[len(r.Events)-1].Position
}

// StreamVersion is the version stream reached in this append (0 if the
// append did not write to it).
func (r AppendResult) StreamVersion(stream string) int64 {
	var v int64
	for _, e := range r.Events {
		if e.StreamID == stream && e.Version > v {
			v = e.Version
		}
	}
	return v
}

// Config configures a Log.
type Config struct {
	// Pool connects to the area's database.
	Pool *pgxpool.Pool
	// Schema holds the log's tables (see Migrate).
	Schema string
	// MaxBatch caps the events one group commit writes (default 2000).
	MaxBatch int
	// Linger is how long the writer may wait for the callers of its
	// previous commit to append again before committing a smaller batch
	// (default 200µs; negative: never wait). It trades that much latency
	// under concurrency for commits of about the number of concurrent
	// callers.
	Linger time.Duration
	// Inline, when set, maps the events of each commit to statements run
	// in the same transaction, after the events are inserted: an area's
	// own indexes that must never lag its log (Marten's inline
	// projections). A failing statement fails the appends of its batch,
	// which are then retried one by one, so only the append whose events
	// made it fail is refused. An error from Inline itself refuses the
	// whole batch the same way.
	Inline func(events []Event) ([]Statement, error)
	// Logger receives the writer's errors (default slog.Default()).
	Logger *slog.Logger
}

// Statement is one SQL statement with its arguments.
type Statement struct {
	SQL  string
	Args []any
}

func (c *Config) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.Linger == 0 {
		c.Linger = 200 * time.Microsecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("eventlog: Pool is required"))
	}
	if !pgmigrate.ValidIdent(c.Schema) {
		errs = append(errs, fmt.Errorf("eventlog: invalid schema %q", c.Schema))
	}
	return errors.Join(errs...)
}

// Log is one area's event log. Its methods are safe for concurrent use.
type Log struct {
	cfg     Config
	q       queries
	lockKey int64

	commits   atomic.Int64
	committed atomic.Int64

	reqs   chan *request
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

// Open returns a Log on an already migrated schema and starts its writer.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{
		cfg:     cfg,
		q:       newQueries(cfg.Schema),
		lockKey: lockKey("eventlog:" + cfg.Schema),
		reqs:    make(chan *request, 4096),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	var ok bool
	if err := cfg.Pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", cfg.Schema+".events").Scan(&ok); err != nil {
		return nil, fmt.Errorf("eventlog: open %s: %w", cfg.Schema, err)
	}
	if !ok {
		return nil, fmt.Errorf("eventlog: open %s: not migrated (run crm migrate)", cfg.Schema)
	}
	go l.writer()
	return l, nil
}

// Close stops the writer after the appends already queued are committed.
func (l *Log) Close() {
	l.closed.Do(func() { close(l.stop) })
	<-l.done
}

// WriterStats counts this process's group commits and the events they
// recorded; their ratio is the mean batch size.
type WriterStats struct {
	Commits, Events int64
}

// Stats returns the writer's counters.
func (l *Log) Stats() WriterStats {
	return WriterStats{Commits: l.commits.Load(), Events: l.committed.Load()}
}

// Schema is the schema holding the log.
func (l *Log) Schema() string { return l.cfg.Schema }

// Append records events at the end of one stream, atomically. See
// AppendMulti for idempotency and errors.
func (l *Log) Append(ctx context.Context, streamID string, expectedVersion int64, meta Metadata, events ...NewEvent) (AppendResult, error) {
	return l.AppendMulti(ctx, meta, StreamAppend{StreamID: streamID, ExpectedVersion: expectedVersion, Events: events})
}

// AppendMulti records the events of several streams in one transaction:
// all or none. When meta.IdempotencyKey was recorded before in this log, it
// records nothing and returns the first append's events with Duplicate set;
// this holds also for identical appends racing each other. A stream not at
// its ExpectedVersion fails the whole append with a *VersionConflictError.
// When ctx ends before the answer, the append may still be committed.
func (l *Log) AppendMulti(ctx context.Context, meta Metadata, appends ...StreamAppend) (AppendResult, error) {
	if err := validateAppends(appends); err != nil {
		return AppendResult{}, err
	}
	r := &request{ctx: ctx, meta: meta, appends: appends, resp: make(chan response, 1)}
	select {
	case <-l.stop:
		return AppendResult{}, ErrClosed
	default:
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	case <-l.stop:
		return AppendResult{}, ErrClosed
	}
	select {
	case resp := <-r.resp:
		return resp.res, resp.err
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
}

func validateAppends(appends []StreamAppend) error {
	n := 0
	seen := map[string]bool{}
	for _, a := range appends {
		if a.StreamID == "" {
			return errors.New("eventlog: empty stream id")
		}
		if seen[a.StreamID] {
			return fmt.Errorf("eventlog: stream %s appears twice in one append", a.StreamID)
		}
		seen[a.StreamID] = true
		if a.ExpectedVersion < AnyVersion {
			return fmt.Errorf("eventlog: stream %s: invalid expected version %d", a.StreamID, a.ExpectedVersion)
		}
		for _, e := range a.Events {
			if e.Type == "" {
				return fmt.Errorf("eventlog: stream %s: event without type", a.StreamID)
			}
			if e.ID != "" {
				if _, err := uuid.Parse(e.ID); err != nil {
					return fmt.Errorf("eventlog: stream %s: event id %q is not a UUID", a.StreamID, e.ID)
				}
			}
			if len(e.Data) > 0 && !json.Valid(e.Data) {
				return fmt.Errorf("eventlog: stream %s: event %s: data is not JSON", a.StreamID, e.Type)
			}
		}
		n += len(a.Events)
	}
	if n == 0 {
		return errors.New("eventlog: append without events")
	}
	return nil
}

// lockKey derives a stable advisory lock key from a name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}
