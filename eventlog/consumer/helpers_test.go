package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

const (
	testArea  = "customers"
	testName  = "proj"
	testParts = 4
)

// area is one area's real event log, served over HTTP like a write service
// serves it, with the client a consumer catches up through.
type area struct {
	log    *eventlog.Log
	source LogSource
}

func newArea(t *testing.T) *area {
	t.Helper()
	ctx := context.Background()
	pool, schema := testenv.Schema(t)
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	srv := httptest.NewServer(eventlog.NewHandler(l))
	t.Cleanup(srv.Close)
	return &area{log: l, source: &eventlog.Client{BaseURL: srv.URL}}
}

// produce appends n events spread over streams prefix-0..prefix-(streams-1)
// from four concurrent writers; writer w owns the streams whose index is w
// modulo 4, so each stream is written by one writer.
func (a *area) produce(prefix string, streams, n int) error {
	perWriter := max(streams/4, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for k := range (n + 3 - w) / 4 { // writer w writes events w, w+4, w+8... of n
				stream := fmt.Sprintf("%s-%d", prefix, w+4*(k%perWriter))
				data, _ := json.Marshal(map[string]int{"k": k})
				_, err := a.log.Append(context.Background(), stream, eventlog.AnyVersion, eventlog.Metadata{Actor: "test"},
					eventlog.NewEvent{Type: "Touched", Data: data})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}

func (a *area) mustProduce(t *testing.T, prefix string, streams, n int) {
	t.Helper()
	if err := a.produce(prefix, streams, n); err != nil {
		t.Fatal(err)
	}
}

// produceAsync produces in the background; the returned function waits.
func (a *area) produceAsync(t *testing.T, prefix string, streams, n int) (wait func()) {
	errc := make(chan error, 1)
	go func() { errc <- a.produce(prefix, streams, n) }()
	return func() {
		t.Helper()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func (a *area) appendOne(t *testing.T, stream string) eventlog.Event {
	t.Helper()
	res, err := a.log.Append(context.Background(), stream, eventlog.AnyVersion, eventlog.Metadata{},
		eventlog.NewEvent{Type: "Touched", Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Events[0]
}

func (a *area) all(t *testing.T) []eventlog.Event {
	t.Helper()
	var out []eventlog.Event
	for {
		var after int64
		if len(out) > 0 {
			after = out[len(out)-1].Position
		}
		evs, err := a.log.ReadLog(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
	}
}

// relay copies the log into the partition streams the way the real relay
// does (entry id = position, prev = previous position of the partition),
// retrying through Redis outages. It keeps its progress in memory, so after
// Redis loses data it goes on where it was, leaving the consumers a gap.
type relay struct {
	relayed atomic.Int64
	done    chan struct{}
}

func startRelay(t *testing.T, a *area, rdb *redis.Client, ns string) *relay {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &relay{done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-r.done })
	prev := make([]int64, testParts)
	go func() {
		defer close(r.done)
		var after int64
		for ctx.Err() == nil {
			evs, err := a.log.ReadLog(ctx, after, 200)
			if err != nil || len(evs) == 0 {
				idle(ctx, 5*time.Millisecond)
				continue
			}
			next := slices.Clone(prev)
			cmds, _ := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
				for _, ev := range evs {
					p := eventlog.Partition(ev.StreamID, testParts)
					pipe.XAdd(ctx, &redis.XAddArgs{Stream: eventlog.StreamKey(ns, testArea, p), ID: eventlog.EntryID(ev.Position),
						Values: eventlog.EncodeEntry(ev, next[p])})
					next[p] = ev.Position
				}
				pipe.Set(ctx, eventlog.RelayedKey(ns, testArea), evs[len(evs)-1].Position, 0)
				return nil
			})
			ok := len(cmds) == len(evs)+1
			for _, cmd := range cmds {
				// A repeated XADD after a failed pipeline is refused: fine.
				if err := cmd.Err(); err != nil && !strings.Contains(err.Error(), "equal or smaller") {
					ok = false
				}
			}
			if !ok {
				idle(ctx, 20*time.Millisecond)
				continue
			}
			prev, after = next, evs[len(evs)-1].Position
			r.relayed.Store(after)
		}
	}()
	return r
}

// idle is the relay's poll interval (not a wait for a test condition).
func idle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// sink is the consumer's database side: a handler that records each event
// (event_id PRIMARY KEY, so a second apply fails) and checks that every
// stream's versions arrive in order, 1, 2, 3...
type sink struct {
	pool   *pgxpool.Pool
	schema string
	fail   func(ev eventlog.Event) error // injected failure, before applying
	// cpName and cpSchema: where verify finds the checkpoints, when not
	// testName in the sink's own schema (a sink of a multi-sink consumer).
	cpName, cpSchema string
	extra            Handler // injected extra work, after applying

	mu       sync.Mutex
	problems []string
	attempts map[string]int
}

func newSink(t *testing.T) *sink {
	t.Helper()
	ctx := context.Background()
	pool, schema := testenv.Schema(t)
	if err := Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE `+schema+`.applied (
		event_id text PRIMARY KEY, stream_id text NOT NULL, version bigint NOT NULL, position bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return &sink{pool: pool, schema: schema, attempts: map[string]int{}}
}

func (s *sink) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *sink) Apply(ctx context.Context, b *Batch, ev eventlog.Event) (any, error) {
	s.mu.Lock()
	s.attempts[ev.ID]++
	s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(ev); err != nil {
			return nil, err
		}
	}
	// The checks run in the batch, in order: the stream's last applied
	// version before this event, then whether the insert found it there.
	b.QueryRow(func(row pgx.Row) error {
		var last int64
		if err := row.Scan(&last); err != nil {
			return err
		}
		if ev.Version != last+1 {
			s.problem("stream %s: version %d applied after %d", ev.StreamID, ev.Version, last)
		}
		return nil
	}, `SELECT coalesce(max(version), 0) FROM `+s.schema+`.applied WHERE stream_id = $1`, ev.StreamID)
	b.QueryRow(func(row pgx.Row) error {
		var n int
		if err := row.Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			s.problem("event %s applied twice", ev.ID)
		}
		return nil
	}, `WITH ins AS (INSERT INTO `+s.schema+`.applied (event_id, stream_id, version, position) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM ins`,
		ev.ID, ev.StreamID, ev.Version, ev.Position)
	if s.extra != nil {
		return s.extra.Apply(ctx, b, ev)
	}
	return ev.ID, nil
}

func (s *sink) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+s.schema+`.applied`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *sink) waitApplied(t *testing.T, n int, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, func() error {
		if got := s.count(t); got != n {
			return fmt.Errorf("%d of %d events applied", got, n)
		}
		return nil
	})
}

// verify checks that every event of the log except those in parked was
// applied exactly once, in per-stream order, and that each partition's
// checkpoint is its last position.
func (s *sink) verify(t *testing.T, a *area, parked ...string) {
	t.Helper()
	ctx := context.Background()
	s.mu.Lock()
	for _, p := range s.problems {
		t.Error(p)
	}
	s.mu.Unlock()
	rows, err := s.pool.Query(ctx, `SELECT event_id FROM `+s.schema+`.applied`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	applied := map[string]bool{}
	for _, id := range ids {
		applied[id] = true
	}
	last := map[int]int64{}
	missing := 0
	for _, ev := range a.all(t) {
		last[eventlog.Partition(ev.StreamID, testParts)] = ev.Position
		if !applied[ev.ID] && !slices.Contains(parked, ev.ID) {
			missing++
		}
		delete(applied, ev.ID)
	}
	if missing > 0 || len(applied) > 0 {
		t.Errorf("%d log events not applied, %d applied events not in the log", missing, len(applied))
	}
	name, schema := testName, s.schema
	if s.cpName != "" {
		name, schema = s.cpName, s.cpSchema
	}
	cps, err := Checkpoints(ctx, s.pool, schema, name, testArea)
	if err != nil {
		t.Fatal(err)
	}
	for p, pos := range last {
		if cps[p] != pos {
			t.Errorf("partition %d: checkpoint %d, last position %d", p, cps[p], pos)
		}
	}
}

// run is a consumer running in the background.
type run struct {
	c      *Consumer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func testConfig(t *testing.T, s *sink, a *area, rdb redis.UniversalClient, ns string) Config {
	return Config{
		Name: testName, Area: testArea, Namespace: ns, Partitions: testParts,
		Redis: rdb, Pool: s.pool, Schema: s.schema, Source: a.source, Handler: s,
		LeaseTTL: time.Second, BatchSize: 20, Block: 100 * time.Millisecond,
		MaxAttempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

func startConsumer(t *testing.T, cfg Config, setup func(*Consumer)) *run {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return.
func (r *run) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
}

// crash simulates the process dying and waits until it is gone.
func (r *run) crash(t *testing.T) {
	t.Helper()
	r.c.crash()
	r.stop(t)
}

func owned(c *Consumer) int {
	n := 0
	for _, p := range c.Stats().Partitions {
		if p.Owned {
			n++
		}
	}
	return n
}

func redisClient(t *testing.T, addrOrURL string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(addrOrURL)
	if err != nil {
		t.Fatal(err)
	}
	opt.PoolSize = 16
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
