package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

// Redis emptied twice under a running system (FLUSHALL, then a restart with
// nothing on disk): the consumers notice the lost entries and groups, catch
// up from the log over HTTP, and every event is applied exactly once.
func TestRedisFlushAndRestartCatchUp(t *testing.T) {
	t.Parallel()
	srv := testenv.PrivateRedis(t)
	a, s := newArea(t), newSink(t)
	ns := "crmt"
	r := startRelay(t, a, redisClient(t, srv.URL()), ns)
	c1 := startConsumer(t, testConfig(t, s, a, redisClient(t, srv.URL()), ns), nil)
	c2 := startConsumer(t, testConfig(t, s, a, redisClient(t, srv.URL()), ns), nil)

	wait := a.produceAsync(t, "a", 40, 600)
	testenv.Eventually(t, 30*time.Second, func() error {
		if n := s.count(t); n < 150 {
			return fmt.Errorf("%d applied", n)
		}
		return nil
	})
	admin := redisClient(t, srv.URL())
	if err := admin.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	wait()
	s.waitApplied(t, 600, 60*time.Second)

	// A restart: everything gone, including leases and groups, while
	// events keep coming.
	srv.Stop()
	a.mustProduce(t, "b", 40, 200)
	srv.Start()
	s.waitApplied(t, 800, 60*time.Second)
	testenv.Eventually(t, 10*time.Second, func() error {
		if r.relayed.Load() != 800 {
			return fmt.Errorf("relayed %d", r.relayed.Load())
		}
		return nil
	})

	s.verify(t, a)
	catchUps := c1.c.Stats().CatchUps + c2.c.Stats().CatchUps
	if catchUps == 0 {
		t.Error("no catch-up from the log recorded")
	}
	if dl := c1.c.Stats().DeadLettered + c2.c.Stats().DeadLettered; dl != 0 {
		t.Errorf("%d dead letters", dl)
	}
}

// Two consumers share the partitions fairly; one dies without releasing
// anything (leases held, entries delivered but not acknowledged, maybe a
// commit not acknowledged); the other takes its partitions over, claims its
// pending entries and finishes. Nothing is applied twice or out of order.
func TestTakeoverAfterCrash(t *testing.T) {
	t.Parallel()
	a, s := newArea(t), newSink(t)
	shared, ns := testenv.Redis(t)
	startRelay(t, a, shared, ns)
	c1 := startConsumer(t, testConfig(t, s, a, redisClient(t, testenv.RedisURL()), ns), nil)
	c2 := startConsumer(t, testConfig(t, s, a, redisClient(t, testenv.RedisURL()), ns), nil)
	testenv.Eventually(t, 20*time.Second, func() error {
		if o1, o2 := owned(c1.c), owned(c2.c); o1 != testParts/2 || o2 != testParts/2 {
			return fmt.Errorf("owned %d and %d, want a fair split", o1, o2)
		}
		return nil
	})

	wait := a.produceAsync(t, "s", 40, 1000)
	testenv.Eventually(t, 30*time.Second, func() error {
		if n := s.count(t); n < 300 {
			return fmt.Errorf("%d applied", n)
		}
		return nil
	})
	c1.crash(t)
	if owned(c1.c) != 0 {
		t.Fatalf("crashed consumer still owns partitions")
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if o := owned(c2.c); o != testParts {
			return fmt.Errorf("survivor owns %d partitions", o)
		}
		return nil
	})
	wait()
	s.waitApplied(t, 1000, 60*time.Second)
	s.verify(t, a)

}

// Correctness must not depend on the lease: two consumers that both think
// they own every partition (and both read every entry) still apply every
// event once, in order.
func TestOverlappingOwnersApplyOnce(t *testing.T) {
	t.Parallel()
	a, s := newArea(t), newSink(t)
	shared, ns := testenv.Redis(t)
	startRelay(t, a, shared, ns)
	noLease := func(c *Consumer) { c.noLease = true }
	var announced atomic.Int64
	cfg := testConfig(t, s, a, redisClient(t, testenv.RedisURL()), ns)
	cfg.AfterCommit = func(_ context.Context, applied []Applied) {
		for _, a := range applied {
			if a.Result != a.Event.ID || a.Partition != eventlog.Partition(a.Event.StreamID, testParts) {
				t.Errorf("AfterCommit got %+v", a)
			}
		}
		announced.Add(int64(len(applied)))
	}
	c1 := startConsumer(t, cfg, noLease)
	cfg.Redis = redisClient(t, testenv.RedisURL())
	c2 := startConsumer(t, cfg, noLease)
	a.mustProduce(t, "s", 20, 600)
	s.waitApplied(t, 600, 60*time.Second)
	s.verify(t, a)
	if o1, o2 := owned(c1.c), owned(c2.c); o1 != testParts || o2 != testParts {
		t.Errorf("owned %d and %d, want both all", o1, o2)
	}
	if n := c1.c.Stats().Applied + c2.c.Stats().Applied; n != 600 {
		t.Errorf("Stats report %d applied, want 600", n)
	}
	if n := announced.Load(); n != 600 {
		t.Errorf("AfterCommit saw %d events, want 600", n)
	}
}

// A handler failing on one event: after MaxAttempts tries it is parked in
// the dead-letter table and stream, and the events after it in its
// partition are applied. Covers the batch fallback both in a catch-up from
// the log (fresh group) and on the stream, and a handler panic.
func TestPoisonEventIsParked(t *testing.T) {
	t.Parallel()
	a, s := newArea(t), newSink(t)
	shared, ns := testenv.Redis(t)
	// A deferred foreign key fails only at COMMIT: the batch fails as a
	// whole and one event per transaction finds the culprit.
	if _, err := s.pool.Exec(context.Background(), `CREATE TABLE `+s.schema+`.parent (id int PRIMARY KEY);
		CREATE TABLE `+s.schema+`.child (id int REFERENCES `+s.schema+`.parent DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	s.fail = func(ev eventlog.Event) error {
		switch ev.StreamID {
		case "poison-err":
			return errors.New("boom: cannot apply")
		case "poison-panic":
			panic("handler bug")
		}
		return nil
	}
	s.extra = HandlerFunc(func(ctx context.Context, b *Batch, ev eventlog.Event) (any, error) {
		if ev.StreamID == "poison-commit" {
			b.Exec(`INSERT INTO ` + s.schema + `.child VALUES (1)`)
		}
		return ev.ID, nil
	})
	startRelay(t, a, shared, ns)
	a.mustProduce(t, "s", 20, 100)
	p1 := a.appendOne(t, "poison-err")
	a.mustProduce(t, "t", 20, 100)
	p3 := a.appendOne(t, "poison-commit")
	a.mustProduce(t, "w", 20, 30)

	cfg := testConfig(t, s, a, redisClient(t, testenv.RedisURL()), ns)
	c := startConsumer(t, cfg, nil)
	s.waitApplied(t, 230, 30*time.Second)

	a.mustProduce(t, "u", 20, 50)
	p2 := a.appendOne(t, "poison-panic")
	a.mustProduce(t, "v", 20, 50)
	s.waitApplied(t, 330, 30*time.Second)
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := c.c.Stats().DeadLettered; n != 3 {
			return fmt.Errorf("%d dead lettered", n)
		}
		return nil
	})
	s.verify(t, a, p1.ID, p2.ID, p3.ID)

	ctx := context.Background()
	dls, err := DeadLetters(ctx, s.pool, s.schema, testName, testArea, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 3 {
		t.Fatalf("dead letters: %+v", dls)
	}
	byID := map[string]DeadLetter{}
	for _, d := range dls {
		byID[d.Event.ID] = d
	}
	for _, want := range []struct {
		ev  eventlog.Event
		msg string
	}{{p1, "boom: cannot apply"}, {p2, "handler panic: handler bug"}, {p3, "23503"}} {
		d, ok := byID[want.ev.ID]
		if !ok {
			t.Fatalf("%s not in the dead-letter table", want.ev.ID)
		}
		if d.Attempts != cfg.MaxAttempts || !strings.Contains(d.Error, want.msg) || d.Event.Position != want.ev.Position ||
			d.Event.StreamID != want.ev.StreamID || d.Partition != eventlog.Partition(want.ev.StreamID, testParts) {
			t.Errorf("dead letter %+v, want %s after %d attempts", d, want.msg, cfg.MaxAttempts)
		}
		s.mu.Lock()
		// A commit failure in a batch cannot be pinned on one event, so it
		// costs the culprit one try more.
		if n := s.attempts[want.ev.ID]; n != cfg.MaxAttempts && (want.ev.ID != p3.ID || n != cfg.MaxAttempts+1) {
			t.Errorf("%s tried %d times, want %d", want.ev.ID, n, cfg.MaxAttempts)
		}
		s.mu.Unlock()
		assertAppliedAfter(t, s, a, want.ev)
	}
	if n, err := CountDeadLetters(ctx, s.pool, s.schema, testName, testArea); err != nil || n != 3 {
		t.Errorf("CountDeadLetters = %d, %v", n, err)
	}

	msgs, err := shared.XRange(ctx, c.c.dlqKey(testName), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("dead-letter stream holds %d entries", len(msgs))
	}
	for _, m := range msgs {
		ev, _, err := eventlog.DecodeEntry(m.Values)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := byID[ev.ID]; !ok || m.Values["error"] == "" {
			t.Errorf("unexpected dead-letter entry %v", m.Values)
		}
	}
}

// assertAppliedAfter checks that an event of poison's partition after it
// was applied: the partition moved on.
func assertAppliedAfter(t *testing.T, s *sink, a *area, poison eventlog.Event) {
	t.Helper()
	p := eventlog.Partition(poison.StreamID, testParts)
	for _, ev := range a.all(t) {
		if ev.Position > poison.Position && eventlog.Partition(ev.StreamID, testParts) == p {
			var n int
			if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+s.schema+`.applied WHERE event_id = $1`,
				ev.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("event %s after poison %s in partition %d not applied", ev.ID, poison.ID, p)
			}
			return
		}
	}
	t.Errorf("no event after %s in its partition; the test needs one", poison.ID)
}

// A consumer whose checkpoint lies before the oldest entry left in the
// stream (trimmed while it was away) notices from the first entry's prev
// and catches up from the log before following the stream again.
func TestCheckpointBeforeOldestEntryCatchesUp(t *testing.T) {
	t.Parallel()
	a, s := newArea(t), newSink(t)
	shared, ns := testenv.Redis(t)
	r := startRelay(t, a, shared, ns)
	c1 := startConsumer(t, testConfig(t, s, a, redisClient(t, testenv.RedisURL()), ns), nil)
	a.mustProduce(t, "s", 20, 100)
	s.waitApplied(t, 100, 30*time.Second)
	c1.stop(t)
	ctx := context.Background()
	for p := range testParts {
		// A graceful stop releases the leases at once.
		if held, err := shared.HExists(ctx, c1.c.leasesKey(), strconv.Itoa(p)).Result(); err != nil || held {
			t.Errorf("lease %d still held after stop (%v)", p, err)
		}
	}

	a.mustProduce(t, "s", 20, 200)
	testenv.Eventually(t, 10*time.Second, func() error {
		if r.relayed.Load() != 300 {
			return fmt.Errorf("relayed %d", r.relayed.Load())
		}
		return nil
	})
	for p := range testParts {
		if err := shared.XTrimMaxLen(ctx, eventlog.StreamKey(ns, testArea, p), 1).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c2 := startConsumer(t, testConfig(t, s, a, redisClient(t, testenv.RedisURL()), ns), nil)
	s.waitApplied(t, 300, 30*time.Second)
	s.verify(t, a)
	if st := c2.c.Stats(); st.CatchUps == 0 {
		t.Errorf("no catch-up recorded: %+v", st)
	}

	// And it follows the stream again afterwards.
	a.mustProduce(t, "s", 20, 40)
	s.waitApplied(t, 340, 30*time.Second)
	s.verify(t, a)
}

// Sinks of one consumer share its reads and batches but keep their own
// progress: one sink's poison event is parked under that sink's name only,
// the other applies it, and a sink whose checkpoint is ahead (a rebuilt
// read model) skips what it has while the other catches up.
func TestSinksKeepTheirOwnProgress(t *testing.T) {
	t.Parallel()
	a, one, two := newArea(t), newSink(t), newSink(t)
	rdb, ns := testenv.Redis(t)
	startRelay(t, a, rdb, ns)
	a.mustProduce(t, "s", 10, 60)
	poison := a.appendOne(t, "poison")
	a.mustProduce(t, "t", 10, 40)
	two.fail = func(ev eventlog.Event) error {
		if ev.StreamID == "poison" {
			return errors.New("two refuses it")
		}
		return nil
	}
	ctx := context.Background()
	// Sink "one" has already applied the first 60 events of partition 0's
	// streams elsewhere (as after a rebuild): it must skip them.
	if err := Migrate(ctx, one.pool, one.schema); err != nil {
		t.Fatal(err)
	}
	var ahead int64
	for _, ev := range a.all(t) {
		if ev.Position <= 60 && eventlog.Partition(ev.StreamID, testParts) == 0 {
			ahead = ev.Position
			if _, err := one.pool.Exec(ctx, `INSERT INTO `+one.schema+`.applied VALUES ($1, $2, $3, $4)`,
				ev.ID, ev.StreamID, ev.Version, ev.Position); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := one.pool.Exec(ctx, `INSERT INTO `+one.schema+`.consumer_checkpoints (name, area, partition, position)
		VALUES ('one', $1, 0, $2)`, testArea, ahead); err != nil {
		t.Fatal(err)
	}
	one.cpName, one.cpSchema = "one", one.schema
	two.cpName, two.cpSchema = "two", one.schema
	cfg := testConfig(t, one, a, rdb, ns)
	cfg.Handler, cfg.Sinks = nil, []Sink{{Name: "one", Handler: one}, {Name: "two", Handler: two}}
	var applied sync.Map
	cfg.AfterCommit = func(_ context.Context, as []Applied) {
		for _, x := range as {
			if _, dup := applied.LoadOrStore(x.Sink+"/"+x.Event.ID, true); dup {
				t.Errorf("%s applied %s twice", x.Sink, x.Event.ID)
			}
		}
	}
	c := startConsumer(t, cfg, nil)
	one.waitApplied(t, 101, 30*time.Second)
	two.waitApplied(t, 100, 30*time.Second)
	one.verify(t, a)
	two.verify(t, a, poison.ID)
	for name, want := range map[string]int{"one": 0, "two": 1} {
		dls, err := DeadLetters(ctx, one.pool, one.schema, name, testArea, 0)
		if err != nil || len(dls) != want {
			t.Errorf("dead letters of %s: %d (%v), want %d", name, len(dls), err, want)
		}
	}
	if n := c.c.Stats().DeadLettered; n != 1 {
		t.Errorf("DeadLettered = %d", n)
	}
}

// A batch whose connection dies half way (the server ends the session
// after some of its statements ran) leaves nothing behind: it is one
// transaction, so the retry applies every event exactly once.
func TestBatchLostMidwayLeavesNothing(t *testing.T) {
	t.Parallel()
	a, s := newArea(t), newSink(t)
	rdb, ns := testenv.Redis(t)
	startRelay(t, a, rdb, ns)
	a.mustProduce(t, "s", 10, 60)
	victim := a.appendOne(t, "victim")
	a.mustProduce(t, "t", 10, 40)
	var killed atomic.Int32
	s.extra = HandlerFunc(func(ctx context.Context, b *Batch, ev eventlog.Event) (any, error) {
		if ev.ID == victim.ID && killed.Add(1) == 1 {
			b.Exec(`SELECT pg_terminate_backend(pg_backend_pid())`)
		}
		return ev.ID, nil
	})
	cfg := testConfig(t, s, a, rdb, ns)
	cfg.BatchSize = 200
	c := startConsumer(t, cfg, nil)
	s.waitApplied(t, 101, 30*time.Second)
	s.verify(t, a)
	if killed.Load() < 2 {
		t.Errorf("the victim's batch was tried %d times; want a retry after the lost connection", killed.Load())
	}
	if st := c.c.Stats(); st.DeadLettered != 0 || st.Applied != 101 {
		t.Errorf("stats %+v: want 101 applied, none parked", st)
	}
}

// One command's events in two partitions, relayed in one pipeline, reach a
// consumer that waits on its streams together and are applied in one
// transaction: Redis before 7.2 wakes a blocked XREAD with the one stream
// that got an entry, and the consumer then takes what the others hold.
// Not parallel: it tells the consumer's blocked read apart in CLIENT LIST.
func TestOneCommandAcrossPartitionsIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	a, s := newArea(t), newSink(t)
	rdb, ns := testenv.Redis(t)
	opt := *rdb.Options()
	opt.ClientName = ns
	named := redis.NewClient(&opt)
	t.Cleanup(func() { named.Close() })
	startRelay(t, a, rdb, ns)
	var mu sync.Mutex
	txOf := map[string]int64{}
	s.extra = HandlerFunc(func(ctx context.Context, b *Batch, ev eventlog.Event) (any, error) {
		b.QueryRow(func(row pgx.Row) error {
			var tx int64
			err := row.Scan(&tx)
			mu.Lock()
			txOf[ev.ID] = tx
			mu.Unlock()
			return err
		}, `SELECT txid_current()`)
		return ev.ID, nil
	})
	cfg := testConfig(t, s, a, named, ns)
	cfg.Block = time.Minute
	startConsumer(t, cfg, nil)
	first, second := "cmd-0", ""
	for i := 1; second == ""; i++ {
		if id := fmt.Sprintf("cmd-%d", i); eventlog.Partition(id, testParts) != eventlog.Partition(first, testParts) {
			second = id
		}
	}
	touched := []eventlog.NewEvent{{Type: "Touched", Data: json.RawMessage(`{}`)}}
	for round := range 2 {
		// Blocked in XREAD for a second or more: past the short reads that
		// follow traffic, waiting on every partition.
		testenv.Eventually(t, 20*time.Second, func() error {
			list, err := rdb.ClientList(ctx).Result()
			if err != nil {
				return err
			}
			for _, c := range strings.Split(list, "\n") {
				if strings.Contains(c, " name="+ns+" ") && strings.Contains(c, " cmd=xread") &&
					strings.Contains(c, " flags=b ") && !strings.Contains(c, " idle=0 ") {
					return nil
				}
			}
			return errors.New("the consumer is not waiting on its streams")
		})
		res, err := a.log.AppendMulti(ctx, eventlog.Metadata{},
			eventlog.StreamAppend{StreamID: first, ExpectedVersion: eventlog.AnyVersion, Events: touched},
			eventlog.StreamAppend{StreamID: second, ExpectedVersion: eventlog.AnyVersion, Events: touched})
		if err != nil {
			t.Fatal(err)
		}
		s.waitApplied(t, 2*(round+1), 20*time.Second)
		mu.Lock()
		one, two := txOf[res.Events[0].ID], txOf[res.Events[1].ID]
		mu.Unlock()
		if one != two {
			t.Errorf("round %d: the command's two events were applied in transactions %d and %d; want one", round, one, two)
		}
	}
	s.verify(t, a)
}
