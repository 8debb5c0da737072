package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"crm/eventlog/testenv"
	"crm/graph/feed"
)

// feedFollower follows eventRecorded over graphql-transport-ws as a client
// should: it records each event's area and position, and when its
// subscription ends with an error it resubscribes from the cursor the
// error carries. It runs on its own goroutine.
type feedFollower struct {
	name   string
	sys    *system
	areas  string // the areas argument, e.g. "[CUSTOMERS, APPOINTMENTS]"
	fields string // the selection
	// delay before taking the next push, until the first SLOW_CONSUMER.
	delay time.Duration
	// reconnectAfter: close the socket after this many events and
	// resubscribe from the last cursor (once).
	reconnectAfter int

	mu     sync.Mutex
	got    map[string][]int64
	cursor string // "" subscribes from now
	// from is where the feed started: known from the first cursor when it
	// subscribed from now.
	from       feed.Position
	ends       map[string]int
	reconnects int
	drops      []string // connections lost (resumed from the cursor)
	err        error
}

func newFollower(name string, sys *system, areas, fields, cursor string) *feedFollower {
	f := &feedFollower{name: name, sys: sys, areas: areas, fields: fields, cursor: cursor,
		got: map[string][]int64{}, ends: map[string]int{}}
	if cursor != "" {
		f.from, _ = feed.Decode(cursor)
	}
	return f
}

// run follows until ctx ends or the feed breaks its protocol (kept in
// f.err). A dropped connection is resumed from the last cursor, as a
// client would.
func (f *feedFollower) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.session(ctx)
		if ctx.Err() != nil {
			return
		}
		var broken *protocolError
		f.mu.Lock()
		switch {
		case errors.As(err, &broken):
			f.err = err
		case err != nil:
			f.drops = append(f.drops, err.Error())
		}
		f.mu.Unlock()
		if f.err != nil {
			return
		}
	}
}

// protocolError is a message the feed must never send.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// session is one WebSocket connection with one subscription; it returns
// nil when the follower should resubscribe.
func (f *feedFollower) session(ctx context.Context) error {
	c, err := openWS(ctx, f.sys, "graphql-transport-ws")
	if err != nil {
		return err
	}
	defer c.CloseNow()
	f.mu.Lock()
	var after any
	if f.cursor != "" {
		after = f.cursor
	}
	f.mu.Unlock()
	sub, _ := json.Marshal(map[string]any{"id": "feed", "type": "subscribe", "payload": map[string]any{
		"query":     fmt.Sprintf(`subscription($after: String) { eventRecorded(areas: %s, after: $after) { %s } }`, f.areas, f.fields),
		"variables": map[string]any{"after": after}}})
	if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
		return err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		json.Unmarshal(b, &m)
		switch m.Type {
		case "ping":
			c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
		case "next":
			var p struct {
				Data struct {
					EventRecorded struct {
						Area     string
						Position string
						Cursor   string
					}
				}
				Errors []json.RawMessage
			}
			json.Unmarshal(m.Payload, &p)
			if len(p.Errors) > 0 {
				return &protocolError{fmt.Sprintf("%s: push with errors %s", f.name, m.Payload)}
			}
			ev := p.Data.EventRecorded
			var pos int64
			fmt.Sscan(ev.Position, &pos)
			f.mu.Lock()
			area := strings.ToLower(ev.Area)
			if f.from == nil { // from now: the first cursor tells where that was
				if f.from, err = feed.Decode(ev.Cursor); err != nil {
					f.mu.Unlock()
					return err
				}
				f.from[area] = pos - 1
			}
			f.got[area] = append(f.got[area], pos)
			f.cursor = ev.Cursor
			n, delay := f.total(), f.delay
			reconnect := f.reconnectAfter > 0 && n == f.reconnectAfter && f.reconnects == 0
			if reconnect {
				f.reconnects++
			}
			f.mu.Unlock()
			if reconnect {
				return nil // drop the connection mid-run; resubscribe with the cursor
			}
			if delay > 0 {
				time.Sleep(delay) // a slow client
			}
		case "error":
			var errs []struct {
				Message    string
				Extensions struct{ Code, Cursor string }
			}
			json.Unmarshal(m.Payload, &errs)
			if len(errs) == 0 || errs[0].Extensions.Cursor == "" {
				return &protocolError{fmt.Sprintf("%s: error without a cursor: %s", f.name, m.Payload)}
			}
			f.mu.Lock()
			f.ends[errs[0].Extensions.Code]++
			f.cursor = errs[0].Extensions.Cursor
			f.delay = 0 // resumed, it keeps up
			f.mu.Unlock()
			return nil
		case "complete":
			return &protocolError{f.name + ": the feed completed"}
		}
	}
}

func (f *feedFollower) total() int {
	n := 0
	for _, ps := range f.got {
		n += len(ps)
	}
	return n
}

// check reports whether the follower got exactly the positions after
// where it started up to heads[a] of each of its areas, in order.
func (f *feedFollower) check(areas []string, heads map[string]int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if f.from == nil {
		return fmt.Errorf("%s: nothing received", f.name)
	}
	return exactly(f.name, areas, f.got, f.from, heads)
}

// exactly reports the first area of got whose positions are not
// from[a]+1..heads[a] in order.
func exactly(name string, areas []string, got map[string][]int64, from feed.Position, heads map[string]int64) error {
	for _, a := range areas {
		ps := got[a]
		for i, p := range ps {
			if p != from[a]+int64(i)+1 {
				return fmt.Errorf("%s: %s event #%d has position %d, want %d (a gap, a duplicate or out of order)", name, a, i+1, p, from[a]+int64(i)+1)
			}
		}
		if int64(len(ps)) != heads[a]-from[a] {
			return fmt.Errorf("%s: %s: %d of %d events", name, a, len(ps), heads[a]-from[a])
		}
	}
	return nil
}

// The event feed through the whole system: 1,000 concurrent mutations over
// the four areas while three subscribers follow it from the beginning of
// the logs (catch-up, then live) — a slow one, one that drops its
// connection mid-run and resubscribes with its cursor, and one on a second
// gateway process. Each gets every event of its areas exactly once, in log
// order per area; the slow one is ended with SLOW_CONSUMER and its cursor,
// and resumed from it completes the set. Query.events pages the same feed.
func TestFeedEndToEnd(t *testing.T) {
	// A small buffer, so that the slow subscriber is found out within the run.
	s, env := startDev(t, "CRM_FEED_BUFFER=256")
	b := startGateway(t, s, env)
	dbURL := strings.TrimPrefix(env[0], "CRM_DATABASE_URL=")

	var cus, rep struct{ ID string }
	s.gql(t, `mutation { registerCustomer(input: {name: "Ada", email: "ada@example.com"}) { id } }`, nil).ok(t, "registerCustomer", &cus)
	s.gql(t, `mutation { registerSalesperson(input: {name: "Rex", email: "rex@example.com", role: SALES_REP}) { id } }`, nil).ok(t, "registerSalesperson", &rep)

	zero := feed.Position{"customers": 0, "appointments": 0, "relationships": 0, "campaigns": 0}.Encode()
	const fields = `area position cursor type`
	// The slow one asks for much per push (~10 KB), so that the sockets'
	// own buffers (~1.4 MB on loopback) hold only about a hundred of its
	// pushes: it is found out by the gateway before its backlog in them
	// outlasts the WebSocket's ping deadline (30 s).
	var big strings.Builder
	big.WriteString(fields)
	for i := range 100 {
		fmt.Fprintf(&big, " d%d: data", i)
	}
	// The slow one follows from now: live at once, it falls behind.
	slow := newFollower("slow", s, "[CUSTOMERS, APPOINTMENTS, RELATIONSHIPS, CAMPAIGNS]", big.String(), "")
	slow.delay = 100 * time.Millisecond
	reconnecting := newFollower("reconnecting", s, "[CUSTOMERS, APPOINTMENTS]", fields, zero)
	reconnecting.reconnectAfter = 300
	other := newFollower("second gateway", b, "null", fields, zero)
	followers := []*feedFollower{slow, reconnecting, other}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range followers {
		wg.Add(1)
		go func() { defer wg.Done(); f.run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	testenv.Eventually(t, 20*time.Second, func() error {
		if a, b := subscriptions(t, s), subscriptions(t, b); a != 2 || b != 1 {
			return fmt.Errorf("subscriptions: %d on gateway A, %d on gateway B", a, b)
		}
		return nil
	})

	// 1,000 mutations, 32 at a time, a quarter per area.
	from := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Hour)
	start := time.Now()
	work := make(chan int)
	var mwg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range 32 {
		mwg.Add(1)
		go func() {
			defer mwg.Done()
			for i := range work {
				var q string
				switch i % 4 {
				case 0:
					q = fmt.Sprintf(`mutation { registerCustomer(input: {name: "C%d", email: "c%d@example.com"}) { id } }`, i, i)
				case 1:
					q = fmt.Sprintf(`mutation { registerSalesperson(input: {name: "S%d", email: "s%d@example.com", role: SALES_REP}) { id } }`, i, i)
				case 2:
					q = fmt.Sprintf(`mutation { createCampaign(input: {name: "K%d"}) { id } }`, i)
				case 3:
					at := from.Add(time.Duration(i) * time.Hour)
					q = fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "HQ"}) { id } }`,
						cus.ID, rep.ID, at.Format(time.RFC3339), at.Add(30*time.Minute).Format(time.RFC3339))
				}
				if err := mutateOK(s, q); err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for i := range 1000 {
		work <- i
	}
	close(work)
	mwg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d mutations failed, first: %s", len(failures), failures[0])
	}
	wrote := time.Since(start)

	heads := heads(t, dbURL)
	testenv.Eventually(t, 90*time.Second, func() error {
		return errors.Join(slow.check(areas, heads), reconnecting.check([]string{"customers", "appointments"}, heads),
			other.check(areas, heads))
	})
	t.Logf("1,000 mutations in %v; heads %v; ends: slow %v, reconnecting %v (reconnected %d), second gateway %v",
		wrote.Round(time.Millisecond), heads, slow.ends, reconnecting.ends, reconnecting.reconnects, other.ends)
	for _, f := range followers {
		if len(f.drops) > 0 {
			t.Logf("%s lost its connection %d times and resumed (first: %s)", f.name, len(f.drops), f.drops[0])
		}
	}
	if slow.ends["SLOW_CONSUMER"] == 0 {
		t.Fatalf("the slow subscriber was never ended with SLOW_CONSUMER (ends %v)", slow.ends)
	}
	if reconnecting.reconnects != 1 {
		t.Fatalf("the reconnecting subscriber reconnected %d times", reconnecting.reconnects)
	}

	// Query.events pages the same feed with the same cursors.
	got := map[string][]int64{}
	var after *string
	for {
		var page struct {
			Edges []struct {
				Cursor string
				Node   struct{ Area, Position, Cursor string }
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
		s.gql(t, `query($after: String) { events(after: $after, first: 100) { edges { cursor node { area position cursor } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}).ok(t, "events", &page)
		for _, e := range page.Edges {
			if e.Cursor != e.Node.Cursor {
				t.Fatalf("edge cursor %s, node cursor %s", e.Cursor, e.Node.Cursor)
			}
			var pos int64
			fmt.Sscan(e.Node.Position, &pos)
			got[strings.ToLower(e.Node.Area)] = append(got[strings.ToLower(e.Node.Area)], pos)
		}
		if !page.PageInfo.HasNextPage {
			break
		}
		after = page.PageInfo.EndCursor
	}
	if err := exactly("events pages", areas, got, feed.Position{}, heads); err != nil {
		t.Fatal(err)
	}
}

// mutateOK posts a mutation and reports its errors; it may run outside the
// test's goroutine.
func mutateOK(s *system, query string) error {
	body, _ := json.Marshal(map[string]any{"query": query})
	resp, err := s.post(strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(raw), `"errors"`) {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return nil
}

// A cursor that is not the feed's is refused with BAD_USER_INPUT on field
// after, by the query and by the subscription, which subscribes nothing:
// the operation completes and the gateway counts no subscription.
func TestFeedBadCursor(t *testing.T) {
	s, _ := startDev(t)
	s.gql(t, `{ events(after: "bm9wZQ") { edges { cursor } } }`, nil).code(t, "BAD_USER_INPUT", "after")
	w := dialWS(t, s, false)
	w.subscribe(t, "bad", `subscription { eventRecorded(areas: [CUSTOMERS], after: "not a cursor") { id } }`)
	m := w.read(t)
	p, _ := m["payload"].(map[string]any)
	errs, _ := p["errors"].([]any)
	if m["type"] != "next" || len(errs) != 1 {
		t.Fatalf("answered %v", m)
	}
	ext := errs[0].(map[string]any)["extensions"].(map[string]any)
	if ext["code"] != "BAD_USER_INPUT" || ext["field"] != "after" {
		t.Fatalf("error %v", errs[0])
	}
	if m := w.read(t); m["type"] != "complete" {
		t.Fatalf("then %v, want complete", m)
	}
	if n := subscriptions(t, s); n != 0 {
		t.Fatalf("after the refusal the gateway counts %d subscriptions", n)
	}
	// A cursor of another area set is refused too.
	one := feed.Position{"customers": 1}.Encode()
	s.gql(t, `query($a: String) { events(areas: [CUSTOMERS, CAMPAIGNS], after: $a) { edges { cursor } } }`,
		map[string]any{"a": one}).code(t, "BAD_USER_INPUT", "after")
}

// subscriptions reads a gateway's crm_subscriptions gauge.
func subscriptions(t *testing.T, s *system) int {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(l, "crm_subscriptions "); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	t.Fatalf("no crm_subscriptions in /metrics")
	return 0
}
