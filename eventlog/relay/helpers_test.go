package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

const area = "customers"

// env is one test's area: a migrated log in its own schema and a Redis
// namespace.
type env struct {
	pool   *pgxpool.Pool
	schema string
	log    *eventlog.Log
	rdb    redis.UniversalClient
	ns     string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pool, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	rdb, ns := testenv.Redis(t)
	return &env{pool: pool, schema: schema, log: l, rdb: rdb, ns: ns}
}

// config is a relay config on e with a short poll, changed by mods.
func (e *env) config(t testing.TB, mods ...func(*Config)) Config {
	cfg := Config{
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
		Pool:         e.pool,
		Schema:       e.schema,
		Area:         area,
		Source:       e.log,
		Redis:        e.rdb,
		Namespace:    e.ns,
		Partitions:   4,
		PollInterval: 100 * time.Millisecond,
	}
	for _, m := range mods {
		m(&cfg)
	}
	return cfg
}

func (e *env) relay(t testing.TB, mods ...func(*Config)) *Relay {
	t.Helper()
	r, err := New(e.config(t, mods...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// running is a relay whose Run goes on in a goroutine.
type running struct {
	*Relay
	cancel context.CancelFunc
	done   chan error
}

func start(r *Relay) *running {
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Relay: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	return rr
}

// stop cancels Run and returns its result.
func (rr *running) stop(t testing.TB) error {
	t.Helper()
	rr.cancel()
	select {
	case err := <-rr.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not stop")
		return nil
	}
}

// startT starts r and stops it at cleanup, failing on an error.
func startT(t testing.TB, r *Relay) *running {
	t.Helper()
	rr := start(r)
	t.Cleanup(func() {
		if err := rr.stop(t); err != nil {
			t.Errorf("relay Run: %v", err)
		}
	})
	return rr
}

// mustAppend appends n events spread over streams stream ids, from workers
// goroutines, one or two events per append.
func mustAppend(t testing.TB, l *eventlog.Log, prefix string, n, streams, workers int) {
	t.Helper()
	if err := appendEvents(l, prefix, n, streams, workers); err != nil {
		t.Fatal(err)
	}
}

// appendEvents is mustAppend for goroutines other than the test's.
func appendEvents(l *eventlog.Log, prefix string, n, streams, workers int) error {
	type job struct{ first, k, stream int }
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for i, a := 0, 0; i < n; a++ {
			k := min(1+a%2, n-i)
			jobs <- job{first: i, k: k, stream: a % streams}
			i += k
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				evs := make([]eventlog.NewEvent, j.k)
				for x := range evs {
					evs[x] = eventlog.NewEvent{Type: "Tested", Data: json.RawMessage(`{"i":` + strconv.Itoa(j.first+x) + `}`)}
				}
				stream := prefix + "-" + strconv.Itoa(j.stream)
				if _, err := l.Append(context.Background(), stream, eventlog.AnyVersion, eventlog.Metadata{Actor: "test"}, evs...); err != nil {
					errs <- err
					for range jobs { // let the feeder finish
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// entry is one decoded stream entry.
type entry struct {
	id   string
	ev   eventlog.Event
	prev int64
}

// readStreams returns every entry of each partition stream.
func readStreams(t testing.TB, rdb redis.UniversalClient, ns string, parts int) [][]entry {
	t.Helper()
	out := make([][]entry, parts)
	for p := range parts {
		msgs, err := rdb.XRange(context.Background(), eventlog.StreamKey(ns, area, p), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			ev, prev, err := eventlog.DecodeEntry(m.Values)
			if err != nil {
				t.Fatalf("partition %d entry %s: %v", p, m.ID, err)
			}
			out[p] = append(out[p], entry{id: m.ID, ev: ev, prev: prev})
		}
	}
	return out
}

// count is the number of entries in all partition streams.
func count(rdb redis.UniversalClient, ns string, parts int) (int64, error) {
	var n int64
	for p := range parts {
		l, err := rdb.XLen(context.Background(), eventlog.StreamKey(ns, area, p)).Result()
		if err != nil {
			return 0, err
		}
		n += l
	}
	return n, nil
}

// checkStreams verifies the partition streams hold exactly the positions
// from..to, each once, in the right partition, increasing, with explicit
// ids and a consistent prev chain. With from == 1 each chain starts at 0.
func checkStreams(t testing.TB, streams [][]entry, from, to int64) {
	t.Helper()
	seen := map[int64]int{}
	for p, es := range streams {
		var last int64
		for i, e := range es {
			pos := e.ev.Position
			if e.id != eventlog.EntryID(pos) {
				t.Fatalf("partition %d: entry id %s for position %d", p, e.id, pos)
			}
			if got := eventlog.Partition(e.ev.StreamID, len(streams)); got != p {
				t.Fatalf("position %d of stream %s in partition %d, want %d", pos, e.ev.StreamID, p, got)
			}
			if i > 0 && pos <= last {
				t.Fatalf("partition %d: position %d after %d", p, pos, last)
			}
			if i > 0 && e.prev != last {
				t.Fatalf("partition %d: position %d has prev %d, want %d", p, pos, e.prev, last)
			}
			if i == 0 && from == 1 && e.prev != 0 {
				t.Fatalf("partition %d: first position %d has prev %d, want 0", p, pos, e.prev)
			}
			seen[pos]++
			last = pos
		}
	}
	for pos := from; pos <= to; pos++ {
		if seen[pos] != 1 {
			t.Fatalf("position %d appears %d times", pos, seen[pos])
		}
	}
	if want := int(to - from + 1); len(seen) != want {
		t.Fatalf("%d distinct positions in Redis, want %d (range %d..%d)", len(seen), want, from, to)
	}
}

// waitRelayed waits until Redis holds n entries and some relay recorded
// position n.
func waitRelayed(t testing.TB, e *env, rdb redis.UniversalClient, parts int, n int64) {
	t.Helper()
	waitEntries(t, e, rdb, parts, n, n)
}

// waitEntries waits until Redis holds entries entries and some relay
// recorded position pos.
func waitEntries(t testing.TB, e *env, rdb redis.UniversalClient, parts int, entries, pos int64) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		c, err := count(rdb, e.ns, parts)
		if err != nil {
			return err
		}
		if c != entries {
			return fmt.Errorf("%d entries in Redis, want %d", c, entries)
		}
		got, err := recorded(e)
		if err != nil {
			return err
		}
		if got != pos {
			return fmt.Errorf("recorded position %d, want %d", got, pos)
		}
		return nil
	})
}

// recorded is the position in the relay's progress table.
func recorded(e *env) (int64, error) {
	var pos int64
	err := e.pool.QueryRow(context.Background(), "SELECT position FROM "+e.schema+".relay_progress WHERE area = $1", area).Scan(&pos)
	if err != nil {
		return 0, errors.New("no progress recorded yet: " + err.Error())
	}
	return pos, nil
}

// logEvents reads the whole log.
func logEvents(t testing.TB, l *eventlog.Log) []eventlog.Event {
	t.Helper()
	var all []eventlog.Event
	for {
		evs, err := l.ReadLog(context.Background(), int64(len(all)), eventlog.MaxReadLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
	}
}

// positionsByPartition lists the log's positions of each partition.
func positionsByPartition(evs []eventlog.Event, parts int) [][]int64 {
	out := make([][]int64, parts)
	for _, ev := range evs {
		p := eventlog.Partition(ev.StreamID, parts)
		out[p] = append(out[p], ev.Position)
	}
	return out
}

// waitActive waits until exactly one of rs is active and returns it.
func waitActive(t testing.TB, rs ...*running) *running {
	t.Helper()
	var act *running
	testenv.Eventually(t, 30*time.Second, func() error {
		act = nil
		n := 0
		for _, r := range rs {
			if r.Stats().Active {
				act = r
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%d active relays, want 1", n)
		}
		return nil
	})
	return act
}

// waitRecorded waits until the recorded progress reaches pos.
func waitRecorded(t testing.TB, e *env, pos int64) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		got, err := recorded(e)
		if err != nil {
			return err
		}
		if got != pos {
			return fmt.Errorf("recorded position %d, want %d", got, pos)
		}
		return nil
	})
}

// waitMark waits until the relayed mark (eventlog.RelayedKey) reads pos.
func waitMark(t testing.TB, e *env, rdb redis.UniversalClient, pos int64) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		got, err := rdb.Get(context.Background(), eventlog.RelayedKey(e.ns, area)).Int64()
		if err != nil || got != pos {
			return fmt.Errorf("relayed mark %d (%v), want %d", got, err, pos)
		}
		return nil
	})
}
