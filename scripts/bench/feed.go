package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The feed benchmark drives `crm dev` with registerCustomer mutations while one eventRecorded subscriber follows the feed of every
// area over graphql-transport-ws, from this process: how fast the feed
// delivers beside how fast the log records, and how long an event takes
// from its log's record time (occurredAt) to the subscriber at a paced
// rate.

const (
	feedPushRate  = 200 // events/s during the latency drive
	feedPushDrive = 10 * time.Second
	feedQuery     = `subscription { eventRecorded { area streamId position occurredAt } }`
)

// feedSub is the benchmark's one feed subscriber.
type feedSub struct {
	c        *websocket.Conn
	received atomic.Int64
	errs     atomic.Int64 // pushes out of order, errors, an end
	mu       sync.Mutex
	last     map[string]int64
	lat      []time.Duration      // occurredAt → received, while recording
	pushedAt map[string]time.Time // customers-area stream id → received, while recording
	record   atomic.Bool
	done     chan struct{}
}

func dialFeed(ctx context.Context, base string) (*feedSub, error) {
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws"+base[len("http"):]+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.SetReadLimit(1 << 20)
	init, err := connectionInit(ctx, base, "bench-feed")
	if err != nil {
		c.CloseNow()
		return nil, err
	}
	for _, m := range []string{string(init),
		`{"id":"feed","type":"subscribe","payload":{"query":` + fmt.Sprintf("%q", feedQuery) + `}}`} {
		if err := c.Write(dctx, websocket.MessageText, []byte(m)); err != nil {
			c.CloseNow()
			return nil, err
		}
	}
	s := &feedSub{c: c, last: map[string]int64{}, pushedAt: map[string]time.Time{}, done: make(chan struct{})}
	go s.read(ctx)
	return s, nil
}

// read decodes each push, checks that each area's positions follow each
// other, and while recording notes each event's latency.
func (s *feedSub) read(ctx context.Context) {
	defer close(s.done)
	for {
		_, b, err := s.c.Read(ctx)
		if err != nil {
			return
		}
		at := time.Now()
		var m struct {
			Type    string
			Payload struct {
				Data struct {
					EventRecorded struct {
						Area, StreamID, Position string
						OccurredAt               time.Time
					}
				}
			}
		}
		if json.Unmarshal(b, &m) != nil {
			s.errs.Add(1)
			continue
		}
		switch m.Type {
		case "ping":
			s.c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
		case "next":
			ev := m.Payload.Data.EventRecorded
			var pos int64
			fmt.Sscan(ev.Position, &pos)
			s.mu.Lock()
			if prev, ok := s.last[ev.Area]; ok && pos != prev+1 {
				s.errs.Add(1)
			}
			s.last[ev.Area] = pos
			if s.record.Load() {
				s.lat = append(s.lat, at.Sub(ev.OccurredAt))
				if ev.Area == "CUSTOMERS" {
					s.pushedAt[ev.StreamID] = at
				}
			}
			s.mu.Unlock()
			s.received.Add(1)
		case "error", "complete":
			s.errs.Add(1)
		}
	}
}

// logEvents counts the events of the four logs.
func logEvents(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM customers.events) + (SELECT count(*) FROM appointments.events)
		+ (SELECT count(*) FROM relationships.events) + (SELECT count(*) FROM campaigns.events)`).Scan(&n)
	return n, err
}

// benchFeed starts `crm dev` on a fresh database and namespace (dropped at
// the end) and adds the feed section.
func benchFeed(ctx context.Context, o options, e *env, rep *report) error {
	dir, bin, dbURL, done, err := crmBench(ctx, e, "_feed")
	if err != nil {
		return err
	}
	defer done()
	dev, err := startDev(ctx, bin, dir, "feed-dev", append([]string{"CRM_DATABASE_URL=" + dbURL, "CRM_NAMESPACE=" + e.ns + "_feed", "CRM_REDIS_URL=" + o.redisURL}, unlimited...))
	if err != nil {
		return err
	}
	defer dev.stop()
	pool, err := smallPool(ctx, dbURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	sub, err := dialFeed(ctx, dev.url)
	if err != nil {
		return err
	}
	defer func() { sub.c.CloseNow(); <-sub.done }()
	registerID := func(ctx context.Context, name string) (string, error) {
		data, err := gql(ctx, dev.url, `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"name": name, "email": name + "@example.com"}})
		var r struct{ RegisterCustomer struct{ ID string } }
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		return r.RegisterCustomer.ID, err
	}
	register := func(ctx context.Context, name string) error {
		_, err := registerID(ctx, name)
		return err
	}
	// The subscription starts asynchronously: write until it delivers.
	if err := waitFor(ctx, dev, 30*time.Second, "the first push", func() error {
		if err := register(ctx, fmt.Sprintf("feed-warm-%d", time.Now().UnixNano())); err != nil {
			return err
		}
		if sub.received.Load() == 0 {
			return errors.New("no push yet")
		}
		return nil
	}); err != nil {
		return err
	}

	// caughtUp waits until the subscriber has received want events more
	// than the from it had.
	caughtUp := func(what string, timeout time.Duration, from, want int64) error {
		return waitFor(ctx, dev, timeout, what, func() error {
			if got := sub.received.Load() - from; got < want {
				return fmt.Errorf("%d of %d delivered", got, want)
			}
			return nil
		})
	}
	// Throughput: gwClients closed-loop clients for o.duration; then how
	// long the feed needs to hand over the rest.
	if err := waitFor(ctx, dev, 30*time.Second, "the warm-up delivered", func() error {
		n, err := logEvents(ctx, pool)
		if err == nil && sub.received.Load() < n {
			err = fmt.Errorf("%d of %d delivered", sub.received.Load(), n)
		}
		return err
	}); err != nil {
		return err
	}
	logged0, delivered0 := must(logEvents(ctx, pool)), sub.received.Load()
	res := load(ctx, gwClients, o.duration, func(ctx context.Context, w, i int) error {
		return register(ctx, fmt.Sprintf("feed-%d-%d", w, i))
	})
	stopped := time.Now()
	logged1, delivered1 := must(logEvents(ctx, pool)), sub.received.Load()
	if err := caughtUp("the feed caught up", 60*time.Second, delivered0, logged1-logged0); err != nil {
		return err
	}
	tail := time.Since(stopped)
	if res.failed > 0 {
		return fmt.Errorf("%d mutations failed, first: %v", res.failed, res.firstErr)
	}

	// Latency: feedPushRate events/s (registerCustomer records an event in
	// customers and one in relationships: the mutation rate is what gives
	// that many events), paced open-loop, 32 callers.
	perMutation := max(1, float64(logged1-logged0)/float64(max(res.ok, 1)))
	mutRate := float64(feedPushRate) / perMutation
	n := int(mutRate * feedPushDrive.Seconds())
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var respMu sync.Mutex
	respAt := map[string]time.Time{} // customer id → its mutation's response
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				id, err := registerID(ctx, fmt.Sprintf("feed-paced-%d", i))
				if err != nil {
					failed.Add(1)
					continue
				}
				respMu.Lock()
				respAt[id] = time.Now()
				respMu.Unlock()
			}
		}()
	}
	logged2 := must(logEvents(ctx, pool))
	delivered2 := sub.received.Load()
	sub.record.Store(true)
	begin := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if wait := time.Until(begin.Add(time.Duration(float64(i) * float64(time.Second) / mutRate))); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	logged3 := must(logEvents(ctx, pool))
	if err := caughtUp("the paced events delivered", 30*time.Second, delivered2, logged3-logged2); err != nil {
		return err
	}
	sub.record.Store(false)
	drive := time.Since(begin)
	sub.mu.Lock()
	lat := sub.lat
	var afterResp []time.Duration // push - the mutation's response (negative: the push came first)
	for id, r := range respAt {
		if at, ok := sub.pushedAt[id]; ok {
			afterResp = append(afterResp, at.Sub(r))
		}
	}
	sub.mu.Unlock()
	if sub.errs.Load() > 0 || failed.Load() > 0 {
		return fmt.Errorf("feed: %d pushes out of order or errors, %d paced mutations failed", sub.errs.Load(), failed.Load())
	}

	d := o.duration.Seconds()
	rep.add(section{
		title: "Event feed (eventRecorded)",
		note: fmt.Sprintf("`crm dev` on its own database; one `eventRecorded` subscriber (every area, from now, graphql-transport-ws, from this process; "+
			"it checks that each area's positions follow each other). Throughput: %d closed-loop clients send `registerCustomer` for %d s; "+
			"the log's rate counts the events the four logs recorded in that window, the feed's rate those the subscriber received in it, and the tail is how long "+
			"after the last mutation the subscriber had every one of them. Latency: %d `registerCustomer`/s, paced open-loop (32 callers), for %d s; "+
			"two measures: from the event's occurredAt (its log's record time) to its arrival at the subscriber, the whole pipeline (relay, projector, read model, "+
			"the gateway's tailer); and, as the gateway section measures entity pushes, from the registerCustomer's HTTP response (its write visible in the read "+
			"model) to the arrival of its customers event (negative when the push came first). "+
			"Target: the feed keeps up with the log, p99 under 50 ms.",
			gwClients, int(d), int(mutRate), int(feedPushDrive.Seconds())),
		header: []string{"measure", "feed", "log (baseline)", "ratio"},
		rows: [][]string{
			{"events/s to one subscriber while mutations run", rate(delivered1-delivered0, o.duration), rate(logged1-logged0, o.duration),
				ratio(float64(delivered1-delivered0), float64(logged1-logged0))},
			{"every event delivered, after the last mutation (checked every 200 ms)", ms(tail), "", ""},
			{"events/s during the latency drive", rate(int64(len(lat)), drive), "", ""},
			{fmt.Sprintf("push latency p50 at %d events/s, after the mutation's response", feedPushRate), ms(percentile(afterResp, 0.50)), "", ""},
			{fmt.Sprintf("push latency p99 at %d events/s, after the mutation's response", feedPushRate), ms(percentile(afterResp, 0.99)), "", ""},
			{fmt.Sprintf("push latency p50 at %d events/s, from occurredAt", feedPushRate), ms(percentile(lat, 0.50)), "", ""},
			{fmt.Sprintf("push latency p99 at %d events/s, from occurredAt", feedPushRate), ms(percentile(lat, 0.99)), "", ""},
			{"events measured from occurredAt / pushes matched to a response", fmt.Sprintf("%d / %d", len(lat), len(afterResp)), "", ""},
		},
	})
	return nil
}

// must drops an error the next wait would report anyway (a failed count
// reads as 0 and the wait for it times out with the cause in view).
func must(n int64, _ error) int64 { return n }
