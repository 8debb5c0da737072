package feed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/errcode"
	"crm/eventlog/testenv"
	"crm/graph/model"
	"crm/graph/readstore"
	"crm/graph/readstore/readtest"
)

// feedEnv is a feed over a fresh read schema whose events table the test
// writes as the events projection would.
type feedEnv struct {
	t      *testing.T
	db     *pgxpool.Pool
	schema string
	store  *readstore.Store
	feed   *Feed
	ctx    context.Context
}

// newFeedEnv runs a feed (no announcements: it polls every 5 ms) until the
// test ends.
func newFeedEnv(t *testing.T, cfg Config) *feedEnv {
	t.Helper()
	db, schema := readtest.Schema(t)
	store, err := readstore.New(readstore.Config{DB: db, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Reader, cfg.Poll = store, 5*time.Millisecond
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &feedEnv{t: t, db: db, schema: schema, store: store, feed: f, ctx: ctx}
}

// insert writes events of area at positions, in one transaction.
func (e *feedEnv) insert(area string, positions ...int64) {
	_, err := e.db.Exec(context.Background(), `INSERT INTO `+pgx.Identifier{e.schema}.Sanitize()+`.events
		(area, position, id, stream_id, version, type, data, occurred_at, actor)
		SELECT $1, p, $1 || '-' || p, 'stream-' || p, 1, 'Happened', jsonb_build_object('n', p, 'pad', repeat('x', 200)), now(), 'u1'
		FROM unnest($2::bigint[]) AS p`, area, positions)
	if err != nil {
		e.t.Fatal(err)
	}
}

// writeAreas writes positions 1..n of every area as the projector may:
// four partitions per area committing independently, so that a position
// often becomes visible before a smaller one.
func (e *feedEnv) writeAreas(ctx context.Context, from, n int64) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, area := range Areas {
		for part := int64(0); part < 4; part++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var batch []int64
				for p := from; p <= n; p++ {
					if p%4 != part {
						continue
					}
					batch = append(batch, p)
					if len(batch) == 3 || p+4 > n {
						if _, err := e.db.Exec(ctx, `INSERT INTO `+pgx.Identifier{e.schema}.Sanitize()+`.events
							(area, position, id, stream_id, version, type, data, occurred_at)
							SELECT $1, p, $1 || '-' || p, 's', 1, 'T', '{}', now() FROM unnest($2::bigint[]) AS p`, area, batch); err != nil {
							errs <- err
							return
						}
						batch = nil
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// client follows the feed like a well-behaved client: it records what it
// gets, and when its subscription ends it resubscribes from the cursor the
// error carries.
type client struct {
	e      *feedEnv
	areas  []string
	mu     sync.Mutex
	got    map[string][]int64
	cursor string
	ends   map[string]int // end code → count
}

func newClient(e *feedEnv, areas []string) *client {
	return &client{e: e, areas: areas, got: map[string][]int64{}, ends: map[string]int{}}
}

// follow runs until ctx ends, starting at start (nil: from now).
func (c *client) follow(ctx context.Context, start Position) {
	for ctx.Err() == nil {
		var ended error
		ch := c.e.feed.Subscribe(ctx, c.areas, start, func(err error) { ended = err })
		for ev := range ch {
			c.mu.Lock()
			c.got[ev.AreaName] = append(c.got[ev.AreaName], ev.PositionNum)
			c.cursor = ev.Cursor
			c.mu.Unlock()
		}
		var end *Ended
		if !errors.As(ended, &end) {
			return // ctx ended
		}
		c.mu.Lock()
		c.ends[string(end.Code)]++
		c.mu.Unlock()
		p, err := Decode(end.Cursor)
		if err != nil {
			c.e.t.Errorf("end cursor %q: %v", end.Cursor, err)
			return
		}
		start = p
	}
}

// check reports the first area whose positions are not exactly from+1..to
// in order.
func (c *client) check(from Position, to int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.areas {
		got := c.got[a]
		if int64(len(got)) != to-from[a] {
			return fmt.Errorf("%s: %d events, want %d", a, len(got), to-from[a])
		}
		for i, p := range got {
			if p != from[a]+int64(i)+1 {
				return fmt.Errorf("%s: event %d has position %d, want %d", a, i, p, from[a]+int64(i)+1)
			}
		}
	}
	return nil
}

func zeros(areas []string) Position {
	p := Position{}
	for _, a := range areas {
		p[a] = 0
	}
	return p
}

// The catch-up-to-live seam under concurrent writes whose rows become
// visible out of order: subscribers that start from the beginning (catch-up
// through many small pages, then the window), from now, and from a cursor
// in the middle, each get every position of their areas once, in order,
// across any resumption; pages of Query.events see the same.
func TestFeedSeamUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t, Config{Buffer: 256, Page: 16})
	const n = 1500
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.writeAreas(ctx, 1, 200); err != nil {
		t.Fatal(err)
	}

	fromStart := newClient(e, Areas)
	fromNow := newClient(e, []string{"customers", "campaigns"})
	var wg sync.WaitGroup
	follow := func(c *client, start Position) {
		wg.Add(1)
		go func() { defer wg.Done(); c.follow(ctx, start) }()
	}
	follow(fromStart, zeros(Areas))
	// From now: its start is the head the feed knows when it subscribes,
	// which its first event's cursor reveals; no rows are written until
	// the feed has caught up, so that head is 200.
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := fromStart.check(zeros(Areas), 200); err != nil {
			return err
		}
		return nil
	})
	follow(fromNow, nil)
	testenv.Eventually(t, 10*time.Second, func() error {
		if e.feed.Subscribers() != 2 {
			return fmt.Errorf("%d subscribers", e.feed.Subscribers())
		}
		return nil
	})

	writeDone := make(chan error, 1)
	go func() { writeDone <- e.writeAreas(ctx, 201, n) }()
	// A third subscriber joins mid-write from a cursor of the first.
	var mid Position
	testenv.Eventually(t, 20*time.Second, func() error {
		fromStart.mu.Lock()
		defer fromStart.mu.Unlock()
		if len(fromStart.got["customers"]) < 600 {
			return errors.New("not far enough yet")
		}
		p, err := Decode(fromStart.cursor)
		mid = p
		return err
	})
	fromCursor := newClient(e, []string{"appointments", "relationships"})
	follow(fromCursor, Position{"appointments": mid["appointments"], "relationships": mid["relationships"]})
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}

	testenv.Eventually(t, 30*time.Second, func() error {
		return errors.Join(fromStart.check(zeros(Areas), n), fromNow.check(Position{"customers": 200, "campaigns": 200}, n),
			fromCursor.check(Position{"appointments": mid["appointments"], "relationships": mid["relationships"]}, n))
	})
	cancel()
	wg.Wait()
	t.Logf("subscriptions ended and resumed: from start %v, from now %v, from a cursor %v", fromStart.ends, fromNow.ends, fromCursor.ends)

	// Paging the same feed from the beginning, 37 at a time.
	pager := newClient(e, Areas)
	var start Position
	for pages := 0; ; pages++ {
		items, more, err := Page(context.Background(), e.store, Areas, start, 37)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range items {
			pager.got[ev.AreaName] = append(pager.got[ev.AreaName], ev.PositionNum)
		}
		if !more {
			break
		}
		if start, err = Decode(items[len(items)-1].Cursor); err != nil {
			t.Fatal(err)
		}
	}
	if err := pager.check(zeros(Areas), n); err != nil {
		t.Fatalf("pages: %v", err)
	}
}

// A page stops at a gap: an event waits until every earlier one of its
// area is visible.
func TestFeedPageStopsAtGap(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t, Config{})
	e.insert("customers", 1, 2, 4)
	e.insert("campaigns", 1)
	items, more, err := Page(context.Background(), e.store, Areas, nil, 10)
	if err != nil || more || len(items) != 3 {
		t.Fatalf("page = %d items, more %v, %v", len(items), more, err)
	}
	last, _ := Decode(items[2].Cursor)
	if want := (Position{"customers": 2, "appointments": 0, "relationships": 0, "campaigns": 1}); fmt.Sprint(last) != fmt.Sprint(want) {
		t.Fatalf("end cursor %v, want %v", last, want)
	}
	if items[0].Actor == nil || *items[0].Actor != "u1" {
		t.Fatalf("actor %v", items[0].Actor)
	}
	e.insert("customers", 3)
	items, _, _ = Page(context.Background(), e.store, Areas, last, 10)
	if len(items) != 2 || items[0].PositionNum != 3 || items[1].PositionNum != 4 {
		t.Fatalf("after the gap closed: %v", items)
	}
}

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// The feed's memory does not grow with its subscribers' backlog: 100
// subscribers that take nothing share one window (at most 2 × Buffer
// events per area) and hold one page each. With every one of them 800
// events behind, a buffer of event copies per subscriber would hold 80,000
// events of ~300 bytes (~24 MB); the heap here grows by less than 8 MB.
// Writes then go on: each subscriber is ended with SLOW_CONSUMER once more
// than Buffer (1024) behind and let go, and the heap stays within 8 MB of
// where it started.
func TestFeedMemoryBoundedWithSlowSubscribers(t *testing.T) {
	e := newFeedEnv(t, Config{Buffer: 1024, Page: 128})
	const subs, maxGrowth = 100, 8 << 20
	e.insert("customers", 1) // the head the subscribers start from
	before := heapAfterGC()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ended atomic.Int64
	var chans []<-chan *model.Event
	for range subs {
		chans = append(chans, e.feed.Subscribe(ctx, Areas, nil, func(err error) {
			var end *Ended
			if errors.As(err, &end) && end.Code == errcode.SlowConsumer {
				ended.Add(1)
			}
		}))
	}
	write := func(from, to int64) {
		for _, a := range Areas {
			var ps []int64
			for p := from; p <= to; p++ {
				if a != "customers" || p > 1 {
					ps = append(ps, p)
				}
			}
			e.insert(a, ps...)
		}
	}
	waitHead := func(n int64) {
		testenv.Eventually(t, 30*time.Second, func() error {
			e.feed.mu.Lock()
			defer e.feed.mu.Unlock()
			for _, a := range Areas {
				if e.feed.head[a] < n {
					return fmt.Errorf("head of %s at %d", a, e.feed.head[a])
				}
			}
			return nil
		})
	}
	// 200 events behind each (800 in all, under the buffer): all alive.
	write(1, 200)
	waitHead(200)
	during := heapAfterGC()
	if got := e.feed.Subscribers(); got != subs || ended.Load() != 0 {
		t.Fatalf("%d subscribers, %d ended, want %d alive", got, ended.Load(), subs)
	}
	// 12,000 more: each is ended once more than 1024 behind (then, with
	// nobody left, the feed stops reading).
	for from := int64(201); from <= 3200; from += 500 {
		write(from, min(from+499, 3200))
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if n := ended.Load(); n != subs {
			return fmt.Errorf("%d of %d ended with SLOW_CONSUMER", n, subs)
		}
		return nil
	})
	after := heapAfterGC()
	t.Logf("heap: %.1f MB before, %.1f MB with %d subscribers 800 behind, %.1f MB after 12,800 events",
		float64(before)/(1<<20), float64(during)/(1<<20), subs, float64(after)/(1<<20))
	for what, h := range map[string]uint64{"with every subscriber behind": during, "after the writes": after} {
		if h > before && h-before > maxGrowth {
			t.Errorf("heap grew by %.1f MB %s, want under %d MB", float64(h-before)/(1<<20), what, maxGrowth>>20)
		}
	}
	for _, ch := range chans {
		for range ch { // closed after the end
		}
	}
}

// Events a subscriber may not see (keep) are not delivered, and still
// advance its cursor, live and in pages: a page holds up to first visible
// events however many hidden ones lie between them.
func TestFeedKeeping(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t, Config{})
	var positions []int64
	for p := int64(1); p <= 600; p++ {
		positions = append(positions, p)
	}
	e.insert("customers", positions...)
	even := func(_ context.Context, evs []*model.Event) ([]bool, error) {
		kept := make([]bool, len(evs))
		for i, ev := range evs {
			kept[i] = ev.PositionNum%2 == 0
		}
		return kept, nil
	}
	none := func(_ context.Context, evs []*model.Event) ([]bool, error) { return make([]bool, len(evs)), nil }
	areas := []string{"customers"}

	items, more, end, err := PageKeeping(context.Background(), e.store, areas, nil, 10, even)
	if err != nil || !more || len(items) != 10 || items[0].PositionNum != 2 || items[9].PositionNum != 20 {
		t.Fatalf("page of even events: %d items, more %v, %v", len(items), more, err)
	}
	if fmt.Sprint(end) != fmt.Sprint(Position{"customers": 21}) { // past the hidden 21, before 22
		t.Fatalf("end %v", end)
	}
	items, more, end, err = PageKeeping(context.Background(), e.store, areas, Position{"customers": 20}, 10, none)
	if err != nil || more || len(items) != 0 || fmt.Sprint(end) != fmt.Sprint(Position{"customers": 600}) {
		t.Fatalf("page of hidden events: %d items, more %v, end %v, %v", len(items), more, end, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch := e.feed.SubscribeKeeping(ctx, areas, Position{"customers": 0}, even, func(error) {})
	var got []int64
	for ev := range ch {
		got = append(got, ev.PositionNum)
		if ev.PositionNum == 600 {
			if c, _ := Decode(ev.Cursor); c["customers"] != 600 {
				t.Fatalf("cursor %v", c)
			}
			break
		}
	}
	if len(got) != 300 || got[0] != 2 || got[1] != 4 {
		t.Fatalf("delivered %d events: %v...", len(got), got[:min(len(got), 5)])
	}
}
