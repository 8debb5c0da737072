package relay

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Schema: "Bad-Schema", BatchSize: eventlog.MaxReadLimit + 1, Partitions: -1})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"Pool", "Schema", "Area", "Source", "Redis", "Namespace", "Partitions", "BatchSize"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	cfg := Config{}
	cfg.setDefaults()
	if cfg.Partitions != DefaultPartitions || cfg.BatchSize != DefaultBatchSize || cfg.MaxLen != DefaultMaxLen ||
		cfg.PollInterval != DefaultPollInterval || cfg.Logger == nil {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	cfg = Config{MaxLen: NoTrim}
	cfg.setDefaults()
	if cfg.MaxLen > 0 {
		t.Errorf("NoTrim became MaxLen %d", cfg.MaxLen)
	}
}

func TestContiguousStopsAtGap(t *testing.T) {
	t.Parallel()
	evs := []eventlog.Event{{Position: 5}, {Position: 6}, {Position: 8}}
	got, err := contiguous(evs, 4)
	if len(got) != 2 || err == nil {
		t.Fatalf("contiguous after 4 = %d events, %v; want 2 and a gap error", len(got), err)
	}
	if got, err := contiguous(evs, 3); len(got) != 0 || err == nil {
		t.Fatalf("contiguous after 3 = %d events, %v; want none and a gap error", len(got), err)
	}
	if got, err := contiguous(evs[:2], 4); len(got) != 2 || err != nil {
		t.Fatalf("contiguous = %d events, %v", len(got), err)
	}
}

// Test 1: events appended concurrently over many streams all reach Redis
// once, in log order within each partition, with a consistent prev chain.
func TestRelayDeliversEverythingInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := startT(t, e.relay(t))
	waitActive(t, r)
	const n = 5000
	mustAppend(t, e.log, "cust", n, 300, 8)
	waitRelayed(t, e, e.rdb, 4, n)
	waitMark(t, e, e.rdb, n)
	checkStreams(t, readStreams(t, e.rdb, e.ns, 4), 1, n)
	if st := r.Stats(); st.Position != n || st.Relayed != n || st.Resent != 0 || !st.Active {
		t.Errorf("stats %+v, want position and relayed %d, nothing resent, active", st, n)
	}
}

// The relay wakes on the log's NOTIFY: with a safety poll of a minute each
// event still reaches Redis within milliseconds of its commit.
func TestRelayWakesOnNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := startT(t, e.relay(t, func(c *Config) { c.PollInterval = time.Minute }))
	waitActive(t, r)
	streams := make([]string, 8) // 4 keys, then the last id read from each
	for p := range 4 {
		streams[p], streams[4+p] = eventlog.StreamKey(e.ns, area, p), "0-0"
	}
	for i := range 5 {
		started := time.Now()
		mustAppend(t, e.log, "wake", 1, 1, 1)
		appended := time.Since(started)
		res, err := e.rdb.XRead(context.Background(), &redis.XReadArgs{Streams: streams, Count: 1, Block: 10 * time.Second}).Result()
		if err != nil {
			t.Fatalf("event %d not in Redis within 10s (the safety poll is a minute): %v", i+1, err)
		}
		took := time.Since(started)
		for p := range 4 {
			if res[0].Stream == streams[p] {
				streams[4+p] = res[0].Messages[0].ID
			}
		}
		t.Logf("event %d: in Redis %v after Append was called (the append itself took %v)", i+1, took, appended)
	}
}

// Test 2: a relay killed at random points (stopped, or crashed between its
// XADDs and recording their progress) and restarted each time delivers
// every event, and no position appears twice in a partition stream.
func TestRelaySurvivesKillsAndCrashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	done := make(chan error, 1)
	go func() { done <- appendEvents(e.log, "kill", 3000, 100, 4) }()
	rng := rand.New(rand.NewPCG(7, 11))
	var restarts, crashes, stops int
	var resent uint64
	appending := true
	for appending || restarts < 10 || crashes < 3 || stops < 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			appending = false
		default:
		}
		if !appending {
			mustAppend(t, e.log, "late", 20, 5, 2) // something to crash on
		}
		r := e.relay(t, func(c *Config) { c.BatchSize = 50 })
		if rng.IntN(2) == 0 {
			var batches atomic.Int32
			after := int32(1 + rng.IntN(4))
			r.afterXADD = func() bool { return batches.Add(1) >= after }
		}
		rr := start(r)
		select {
		case err := <-rr.done:
			if !errors.Is(err, errCrash) {
				t.Fatalf("Run: %v", err)
			}
			crashes++
		case <-time.After(time.Duration(5+rng.IntN(60)) * time.Millisecond): // a random kill point
			switch err := rr.stop(t); {
			case errors.Is(err, errCrash): // in the batch the stop let finish
				crashes++
			case err != nil:
				t.Fatalf("Run: %v", err)
			default:
				stops++
			}
		}
		restarts++
		resent += r.Stats().Resent
	}
	head, err := e.log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	startT(t, e.relay(t, func(c *Config) { c.BatchSize = 50 }))
	waitRelayed(t, e, e.rdb, 4, head)
	checkStreams(t, readStreams(t, e.rdb, e.ns, 4), 1, head)
	t.Logf("%d events, %d restarts (%d crashes after XADD, %d stops), %d re-sends refused by Redis", head, restarts, crashes, stops, resent)
	if resent == 0 {
		t.Error("no crash between XADD and recording progress caused a re-send; the test proves less than it should")
	}
}

// Test 3: of two relays on one area only one is active at a time;
// everything is delivered once; stopping the active one lets the other
// take over.
func TestRelayOneActivePerArea(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := start(e.relay(t)), start(e.relay(t))
	var both atomic.Bool
	watchDone := make(chan struct{})
	watchStop := make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-watchStop:
				return
			case <-tick.C:
				if a.Stats().Active && b.Stats().Active {
					both.Store(true)
				}
			}
		}
	}()
	first := waitActive(t, a, b)
	mustAppend(t, e.log, "two", 1000, 50, 4)
	waitRelayed(t, e, e.rdb, 4, 1000)

	if err := first.stop(t); err != nil {
		t.Fatalf("stop active relay: %v", err)
	}
	second := a
	if first == a {
		second = b
	}
	waitActive(t, second)
	mustAppend(t, e.log, "two", 1000, 50, 4)
	waitRelayed(t, e, e.rdb, 4, 2000)
	close(watchStop)
	<-watchDone
	if err := second.stop(t); err != nil {
		t.Fatalf("stop second relay: %v", err)
	}
	checkStreams(t, readStreams(t, e.rdb, e.ns, 4), 1, 2000)
	if both.Load() {
		t.Error("both relays were active at once")
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Relayed+sb.Relayed != 2000 || sa.Resent+sb.Resent != 0 {
		t.Errorf("relayed %d+%d, resent %d+%d; want 2000 relayed once", sa.Relayed, sb.Relayed, sa.Resent, sb.Resent)
	}
	if first.Stats().Position != 1000 || second.Stats().Position != 2000 {
		t.Errorf("positions: first %d, second %d; want 1000, 2000", first.Stats().Position, second.Stats().Position)
	}
}

// When the active relay's lock connection breaks, it stops relaying and
// goes back to standby; a relay (either one) takes over and delivery goes
// on without loss or duplicates.
func TestRelayLockConnectionLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := startT(t, e.relay(t)), startT(t, e.relay(t))
	act := waitActive(t, a, b)
	mustAppend(t, e.log, "lost", 300, 20, 2)
	waitRelayed(t, e, e.rdb, 4, 300)
	pid := act.lockPID.Load()
	var ok bool
	if err := e.pool.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate lock backend %d: %v %v", pid, ok, err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if act.Stats().Errors == 0 {
			return errors.New("the relay has not noticed its lost lock connection")
		}
		return nil
	})
	waitActive(t, a, b)
	mustAppend(t, e.log, "lost", 300, 20, 2)
	waitRelayed(t, e, e.rdb, 4, 600)
	checkStreams(t, readStreams(t, e.rdb, e.ns, 4), 1, 600)
}

// Test 4: trimming keeps each partition stream near MaxLen, dropping only
// the oldest entries.
func TestRelayTrimsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const maxLen, parts, n = 100, 2, 3000
	startT(t, e.relay(t, func(c *Config) { c.MaxLen, c.Partitions, c.BatchSize = maxLen, parts, 200 }))
	mustAppend(t, e.log, "trim", n, 50, 4)
	waitRecorded(t, e, n)
	want := positionsByPartition(logEvents(t, e.log), parts)
	streams := readStreams(t, e.rdb, e.ns, parts)
	for p, es := range streams {
		// "~" trims whole radix-tree nodes (stream-node-max-entries: 100).
		if len(es) < maxLen || len(es) >= maxLen+100 {
			t.Errorf("partition %d holds %d entries, want about %d", p, len(es), maxLen)
		}
		tail := want[p][len(want[p])-len(es):]
		got := make([]int64, len(es))
		for i, en := range es {
			got[i] = en.ev.Position
			if i > 0 && en.prev != es[i-1].ev.Position {
				t.Fatalf("partition %d: broken prev chain at %d", p, en.ev.Position)
			}
		}
		if !slices.Equal(got, tail) {
			t.Errorf("partition %d keeps positions %v.., want the newest %v..", p, got[:3], tail[:3])
		}
	}
}

// Test 5: Redis stopped, then restarted empty, mid-run: the relay retries
// without skipping, then continues from its recorded progress and keeps
// delivering new events.
func TestRelayRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := testenv.PrivateRedis(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.DialTimeout = time.Second
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	e.rdb = rdb
	r := startT(t, e.relay(t))
	mustAppend(t, e.log, "rr", 500, 40, 4)
	waitRelayed(t, e, rdb, 4, 500)

	srv.Stop()
	mustAppend(t, e.log, "rr", 300, 40, 4)
	testenv.Eventually(t, 30*time.Second, func() error {
		if r.Stats().Errors == 0 {
			return errors.New("no failed attempt yet")
		}
		return nil
	})
	if pos, err := recorded(e); err != nil || pos != 500 {
		t.Fatalf("recorded %d (%v) while Redis was down, want 500", pos, err)
	}
	srv.Start() // empty
	waitEntries(t, e, rdb, 4, 300, 800)
	waitMark(t, e, rdb, 800)
	mustAppend(t, e.log, "rr", 200, 40, 4)
	waitEntries(t, e, rdb, 4, 500, 1000)

	streams := readStreams(t, rdb, e.ns, 4)
	checkStreams(t, streams, 501, 1000)
	// Each partition's first entry after the restart still points at the
	// partition's last event before it, so consumers see what was lost.
	before := positionsByPartition(logEvents(t, e.log)[:500], 4)
	for p, es := range streams {
		var want int64
		if len(before[p]) > 0 {
			want = before[p][len(before[p])-1]
		}
		if len(es) > 0 && es[0].prev != want {
			t.Errorf("partition %d: first entry after restart has prev %d, want %d", p, es[0].prev, want)
		}
	}

	// Emptied again while idle: the relayed mark comes back by itself.
	srv.Stop()
	srv.Start()
	waitMark(t, e, rdb, 1000)
}

// A relay configured with another partition count than the recorded
// progress refuses to run instead of breaking the consumers' prev chains.
func TestRelayRefusesRepartitioning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rr := start(e.relay(t))
	mustAppend(t, e.log, "rp", 10, 3, 1)
	waitRelayed(t, e, e.rdb, 4, 10)
	if err := rr.stop(t); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.relay(t, func(c *Config) { c.Partitions = 8 }).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "partitions") {
		t.Fatalf("Run with 8 partitions after 4 = %v, want a refusal", err)
	}
}
