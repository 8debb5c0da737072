package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

// openLog migrates a fresh schema and opens a log on it.
func openLog(t *testing.T) (*eventlog.Log, func() *eventlog.Log) {
	t.Helper()
	pool, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	open := func() *eventlog.Log {
		// Its own pool: a separate set of connections, like another process.
		l, err := eventlog.Open(ctx, eventlog.Config{Pool: testenv.Pool(t, testenv.DatabaseURL(t)), Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	return open(), open
}

func ev(typ string, v any) eventlog.NewEvent {
	b, _ := json.Marshal(v)
	return eventlog.NewEvent{Type: typ, Data: b}
}

// Many appenders on several Log instances (separate writers and
// connections, as separate processes would be) while a reader follows the
// log: the reader sees every committed event exactly once, positions
// contiguous, and each appender's events in the order it committed them.
func TestConcurrentAppendersReaderMissesNothing(t *testing.T) {
	t.Parallel()
	first, open := openLog(t)
	logs := []*eventlog.Log{first, open(), open()}
	const appenders, perAppender = 32, 320 // 10,240 appends
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	type seen struct {
		pos      int64
		appender int
		seq      int
	}
	var (
		readerErr error
		got       []seen
		stop      = make(chan struct{})
		readDone  = make(chan struct{})
	)
	go func() { // the follower
		defer close(readDone)
		var after int64
		for {
			evs, err := first.ReadLog(ctx, after, 500)
			if err != nil {
				readerErr = err
				return
			}
			for _, e := range evs {
				if e.Position != after+1 {
					readerErr = fmt.Errorf("reader saw position %d after %d", e.Position, after)
					return
				}
				after = e.Position
				var d struct{ A, S int }
				if err := json.Unmarshal(e.Data, &d); err != nil {
					readerErr = err
					return
				}
				got = append(got, seen{e.Position, d.A, d.S})
			}
			if len(evs) == 0 {
				select {
				case <-stop:
					if len(got) == appenders*perAppender {
						return
					}
				default:
				}
				time.Sleep(time.Millisecond) // polling interval of the follower, not a test wait
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func(a int) {
			defer wg.Done()
			l := logs[a%len(logs)]
			for s := 0; s < perAppender; s++ {
				stream := fmt.Sprintf("s-%d-%d", a, s%7)
				if _, err := l.Append(ctx, stream, eventlog.AnyVersion, eventlog.Metadata{}, ev("T", map[string]int{"A": a, "S": s})); err != nil {
					errs <- err
					return
				}
			}
		}(a)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(stop)
	<-readDone
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	if len(got) != appenders*perAppender {
		t.Fatalf("reader saw %d events, want %d", len(got), appenders*perAppender)
	}
	last := make([]int, appenders)
	for i := range last {
		last[i] = -1
	}
	for _, g := range got {
		if g.seq != last[g.appender]+1 {
			t.Fatalf("appender %d: event %d seen after %d (commit order broken)", g.appender, g.seq, last[g.appender])
		}
		last[g.appender] = g.seq
	}
	head, err := first.Head(ctx)
	if err != nil || head != int64(appenders*perAppender) {
		t.Fatalf("head = %d, %v", head, err)
	}
}

func TestExpectedVersionOneWinner(t *testing.T) {
	t.Parallel()
	l, open := openLog(t)
	other := open()
	ctx := context.Background()
	if _, err := l.Append(ctx, "acc-1", eventlog.NoStream, eventlog.Metadata{}, ev("Opened", nil)); err != nil {
		t.Fatal(err)
	}
	const racers = 40
	var wg sync.WaitGroup
	results := make(chan error, racers)
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			target := l
			if i%2 == 1 {
				target = other
			}
			_, err := target.Append(ctx, "acc-1", 1, eventlog.Metadata{}, ev("Changed", map[string]int{"i": i}))
			results <- err
		}(i)
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, eventlog.ErrVersionConflict):
			var vc *eventlog.VersionConflictError
			if !errors.As(err, &vc) || vc.Expected != 1 || vc.Actual != 2 {
				t.Errorf("conflict error %v", err)
			}
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d appends won, want exactly 1", wins)
	}
	evs, err := l.ReadStream(ctx, "acc-1", 0, 100)
	if err != nil || len(evs) != 2 {
		t.Fatalf("stream has %d events (%v), want 2", len(evs), err)
	}
}

func TestAnyVersionAllSucceedInSequence(t *testing.T) {
	t.Parallel()
	l, open := openLog(t)
	other := open()
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			target := l
			if i%2 == 1 {
				target = other
			}
			if _, err := target.Append(ctx, "acc-2", eventlog.AnyVersion, eventlog.Metadata{}, ev("Changed", nil)); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	evs, err := l.ReadStream(ctx, "acc-2", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	for i, e := range evs {
		if e.Version != int64(i+1) {
			t.Fatalf("event %d has version %d", i, e.Version)
		}
	}
}

func TestRacingIdempotencyKeysRecordOnce(t *testing.T) {
	t.Parallel()
	l, open := openLog(t)
	other := open()
	ctx := context.Background()
	const racers = 30
	var wg sync.WaitGroup
	results := make(chan eventlog.AppendResult, racers)
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			target := l
			if i%2 == 1 {
				target = other
			}
			meta := eventlog.Metadata{IdempotencyKey: "key-1", CorrelationID: "corr"}
			res, err := target.Append(ctx, "cus-1", eventlog.AnyVersion, meta, ev("Registered", map[string]int{"i": i}), ev("Noted", nil))
			if err != nil {
				t.Error(err)
				return
			}
			results <- res
		}(i)
	}
	wg.Wait()
	close(results)
	firsts, dups := 0, 0
	var want []eventlog.Event
	for res := range results {
		if len(res.Events) != 2 {
			t.Fatalf("result has %d events", len(res.Events))
		}
		if res.Duplicate {
			dups++
		} else {
			firsts++
		}
		if want == nil {
			want = res.Events
		} else if res.Events[0].ID != want[0].ID || res.Events[1].Position != want[1].Position {
			t.Fatalf("results differ: %+v vs %+v", res.Events, want)
		}
	}
	if firsts != 1 || dups != racers-1 {
		t.Fatalf("%d first appends and %d duplicates", firsts, dups)
	}
	head, _ := l.Head(ctx)
	if head != 2 {
		t.Fatalf("log holds %d events, want 2", head)
	}
	found, ok, err := other.Lookup(ctx, "key-1")
	if err != nil || !ok || !found.Duplicate || len(found.Events) != 2 || found.Events[0].ID != want[0].ID {
		t.Fatalf("Lookup = %+v, %v, %v", found, ok, err)
	}
	if _, ok, err := other.Lookup(ctx, "key-2"); ok || err != nil {
		t.Fatalf("Lookup of unknown key = %v, %v", ok, err)
	}
}

func TestAppendMultiIsAtomic(t *testing.T) {
	t.Parallel()
	l, _ := openLog(t)
	ctx := context.Background()
	if _, err := l.Append(ctx, "calendar-1", eventlog.NoStream, eventlog.Metadata{}, ev("SlotBooked", nil)); err != nil {
		t.Fatal(err)
	}
	_, err := l.AppendMulti(ctx, eventlog.Metadata{},
		eventlog.StreamAppend{StreamID: "apt-1", ExpectedVersion: eventlog.NoStream, Events: []eventlog.NewEvent{ev("Scheduled", nil)}},
		eventlog.StreamAppend{StreamID: "calendar-1", ExpectedVersion: eventlog.NoStream, Events: []eventlog.NewEvent{ev("SlotBooked", nil)}},
	)
	if !errors.Is(err, eventlog.ErrVersionConflict) {
		t.Fatalf("err = %v, want conflict", err)
	}
	if evs, _ := l.ReadStream(ctx, "apt-1", 0, 10); len(evs) != 0 {
		t.Fatalf("conflicting multi-append recorded %d events", len(evs))
	}
	res, err := l.AppendMulti(ctx, eventlog.Metadata{CausationID: "c1"},
		eventlog.StreamAppend{StreamID: "apt-1", ExpectedVersion: eventlog.NoStream, Events: []eventlog.NewEvent{ev("Scheduled", nil)}},
		eventlog.StreamAppend{StreamID: "calendar-1", ExpectedVersion: 1, Events: []eventlog.NewEvent{ev("SlotBooked", nil)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if res.StreamVersion("apt-1") != 1 || res.StreamVersion("calendar-1") != 2 || res.LastPosition() != 3 {
		t.Fatalf("result %+v", res)
	}
	if res.Events[0].Metadata.CausationID != "c1" || res.Events[0].ID == "" || res.Events[0].RecordedAt.IsZero() {
		t.Fatalf("metadata not recorded: %+v", res.Events[0])
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	t.Parallel()
	l, _ := openLog(t)
	ctx := context.Background()
	bad := []eventlog.StreamAppend{
		{StreamID: "", Events: []eventlog.NewEvent{ev("T", nil)}},
		{StreamID: "s", ExpectedVersion: -2, Events: []eventlog.NewEvent{ev("T", nil)}},
		{StreamID: "s"},
		{StreamID: "s", Events: []eventlog.NewEvent{{Type: ""}}},
		{StreamID: "s", Events: []eventlog.NewEvent{{Type: "T", ID: "not-a-uuid"}}},
		{StreamID: "s", Events: []eventlog.NewEvent{{Type: "T", Data: []byte("{nope")}}},
	}
	for _, a := range bad {
		if _, err := l.AppendMulti(ctx, eventlog.Metadata{}, a); err == nil {
			t.Errorf("append %+v accepted", a)
		}
	}
	if head, _ := l.Head(ctx); head != 0 {
		t.Fatalf("bad input recorded %d events", head)
	}
}

func TestLogHandler(t *testing.T) {
	t.Parallel()
	l, _ := openLog(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := l.Append(ctx, "st-1", eventlog.AnyVersion, eventlog.Metadata{}, ev("T", map[string]int{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(eventlog.NewHandler(l))
	defer srv.Close()

	for _, q := range []string{"after=-1", "after=x", "limit=0", "limit=1000000", "limit=abc", "after=99999999999999999999", "bogus=1"} {
		resp, err := http.Get(srv.URL + "/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Field string }
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Error.Code != "BAD_USER_INPUT" || body.Error.Field == "" {
			t.Errorf("%s: status %d body %+v", q, resp.StatusCode, body)
		}
	}

	c := &eventlog.Client{BaseURL: srv.URL}
	evs, err := c.ReadLog(ctx, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Position != 3 || evs[1].Position != 4 {
		t.Fatalf("page %+v", evs)
	}
	evs, err = c.ReadStream(ctx, "st-1", 4, 10)
	if err != nil || len(evs) != 1 || evs[0].Version != 5 {
		t.Fatalf("stream page %+v %v", evs, err)
	}
	want, _ := l.ReadLog(ctx, 0, 10)
	all, _ := c.ReadLog(ctx, 0, 0)
	if len(all) != len(want) || all[4].ID != want[4].ID || !sameJSON(all[4].Data, want[4].Data) ||
		!all[4].RecordedAt.Equal(want[4].RecordedAt) {
		t.Fatalf("client and log disagree: %+v vs %+v", all, want)
	}
}

// The log page comes as JSON by default and as PageMediaType when asked;
// Client reads either, and both carry every field of every event as the log
// holds it.
func TestLogPageEncodings(t *testing.T) {
	t.Parallel()
	l, _ := openLog(t)
	ctx := context.Background()
	meta := eventlog.Metadata{CorrelationID: "corr-1", CausationID: "cause-1", IdempotencyKey: "key-1", Actor: "user-1", TraceParent: "00-1-2-01"}
	if _, err := l.Append(ctx, "st-1", eventlog.NoStream, meta, ev("T", map[string]any{"s": "é \"q\"", "n": 1.5, "a": []int{1}}), ev("U", nil)); err != nil {
		t.Fatal(err)
	}
	want, err := l.ReadLog(ctx, 0, 10)
	if err != nil || len(want) != 2 {
		t.Fatalf("log: %v %v", want, err)
	}
	h := eventlog.NewHandler(l)
	// jsonOnly is a server from before the compact page: it ignores Accept.
	jsonOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Accept")
		h.ServeHTTP(w, r)
	})
	for _, tc := range []struct {
		name        string
		handler     http.Handler
		contentType string
	}{{"compact", h, eventlog.PageMediaType}, {"json", jsonOnly, "application/json"}} {
		srv := httptest.NewServer(tc.handler)
		c := &eventlog.Client{BaseURL: srv.URL}
		for _, read := range []func() ([]eventlog.Event, error){
			func() ([]eventlog.Event, error) { return c.ReadLog(ctx, 0, 10) },
			func() ([]eventlog.Event, error) { return c.ReadStream(ctx, "st-1", 0, 10) },
		} {
			got, err := read()
			if err != nil || len(got) != len(want) {
				t.Fatalf("%s: %v %v", tc.name, got, err)
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.ID != w.ID || g.StreamID != w.StreamID || g.Version != w.Version || g.Position != w.Position ||
					g.Type != w.Type || !sameJSON(g.Data, w.Data) || g.Metadata != w.Metadata || !g.RecordedAt.Equal(w.RecordedAt) {
					t.Errorf("%s: event %d: got %+v, want %+v", tc.name, i, g, w)
				}
			}
		}
		if head, err := c.Head(ctx); err != nil || head != 2 {
			t.Errorf("%s: head %d %v", tc.name, head, err)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events", nil)
		req.Header.Set("Accept", eventlog.PageMediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != tc.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tc.name, ct, tc.contentType)
		}
		srv.Close()
	}
	// Without Accept, or refusing the compact page, the answer is JSON.
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, accept := range []string{"", "application/json", eventlog.PageMediaType + ";q=0, application/json"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page eventlog.LogPage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || len(page.Events) != 2 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Accept %q: %s, %d events, %v", accept, resp.Header.Get("Content-Type"), len(page.Events), err)
		}
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// A writer that guesses a stream is new (NoStream, never written by it)
// learns otherwise from the log, not from its memory: the guess fails on the
// server and the append is decided again on the real version.
func TestNoStreamGuessAgainstAnotherWriter(t *testing.T) {
	t.Parallel()
	a, open := openLog(t)
	b := open()
	ctx := context.Background()
	// b remembers the log's head from its own commit.
	if _, err := b.Append(ctx, "warm", eventlog.NoStream, eventlog.Metadata{}, ev("T", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "x", eventlog.NoStream, eventlog.Metadata{IdempotencyKey: "k"}, ev("Created", nil)); err != nil {
		t.Fatal(err)
	}
	_, err := b.Append(ctx, "x", eventlog.NoStream, eventlog.Metadata{}, ev("Created", nil))
	var vc *eventlog.VersionConflictError
	if !errors.As(err, &vc) || vc.Actual != 1 {
		t.Fatalf("second creation of x: %v, want a conflict at version 1", err)
	}
	dup, err := b.Append(ctx, "y", eventlog.NoStream, eventlog.Metadata{IdempotencyKey: "k"}, ev("Created", nil))
	if err != nil || !dup.Duplicate || dup.Events[0].StreamID != "x" {
		t.Fatalf("repeated key through another writer: %+v, %v", dup, err)
	}
	res, err := b.Append(ctx, "x", 1, eventlog.Metadata{}, ev("Changed", nil))
	if err != nil || res.Events[0].Version != 2 || res.Events[0].Position != 3 {
		t.Fatalf("append at the real version: %+v, %v", res, err)
	}
	if head, _ := a.Head(ctx); head != 3 {
		t.Fatalf("head %d, want 3", head)
	}
}
