package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"crm/scripts/cluster"
)

// subConn is one websocket with one customerChanged(id) subscription.
type subConn struct {
	c      *websocket.Conn
	id     string // the customer it follows
	closed atomic.Bool
	mu     sync.Mutex
	pushes []push
}

// push is one received push: the mutation it shows and when it came.
type push struct {
	i  int32
	at time.Duration // since subPool.start
}

// subPool holds the benchmark's subscribers on one gateway.
type subPool struct {
	url       string
	base      string // the gateway's base URL (its token)
	ctx       context.Context
	cancel    context.CancelFunc
	start     time.Time
	recording atomic.Bool
	received  atomic.Int64
	errors    atomic.Int64
	conns     []*subConn
	wg        sync.WaitGroup
	// ids are the customers subscribed to, spread evenly: the k-th
	// subscription follows ids[k%len(ids)].
	ids []string
}

func newSubPool(ctx context.Context, base string) *subPool {
	p := &subPool{url: "ws" + strings.TrimPrefix(base, "http") + "/graphql", base: base, start: time.Now()}
	p.ctx, p.cancel = context.WithCancel(ctx)
	return p
}

// grow opens subscriptions until there are n, 64 dials at a time. On error
// the ones opened so far stay.
func (p *subPool) grow(n int) error {
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for k := len(p.conns); k < n; k++ {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || p.ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		id := p.ids[k%len(p.ids)]
		go func() {
			defer func() { <-sem; wg.Done() }()
			sc, err := p.dial(id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			p.conns = append(p.conns, sc)
		}()
	}
	wg.Wait()
	return firstErr
}

func (p *subPool) dial(id string) (*subConn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, p.url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	fail := func(err error) (*subConn, error) { c.CloseNow(); return nil, err }
	init, err := connectionInit(ctx, p.base, "bench")
	if err != nil {
		return fail(err)
	}
	if err := c.Write(ctx, websocket.MessageText, init); err != nil {
		return fail(fmt.Errorf("connection_init: %w", err))
	}
	if _, b, err := c.Read(ctx); err != nil || !bytes.Contains(b, []byte(`"connection_ack"`)) {
		return fail(fmt.Errorf("connection_ack: %s %v", b, err))
	}
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": gwSubQuery, "variables": map[string]any{"id": id}}})
	if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
		return fail(fmt.Errorf("subscribe: %w", err))
	}
	sc := &subConn{c: c, id: id}
	p.wg.Add(1)
	go p.read(sc)
	return sc, nil
}

// read takes the connection's messages: answers pings, and while recording
// notes which mutation each push shows (its name) and when it came. It
// scans bytes rather than decoding JSON: 200,000 pushes/s must not be
// bounded by this process.
func (p *subPool) read(sc *subConn) {
	defer p.wg.Done()
	prefix := []byte(`"name":"` + gwPushPrefix)
	for {
		_, b, err := sc.c.Read(p.ctx)
		if err != nil {
			if p.ctx.Err() == nil && !sc.closed.Load() {
				p.errors.Add(1)
			}
			return
		}
		switch {
		case bytes.Contains(b, []byte(`"type":"next"`)):
			at := time.Since(p.start)
			k := bytes.Index(b, prefix)
			if !p.recording.Load() || k < 0 {
				continue
			}
			rest := b[k+len(prefix):]
			end := bytes.IndexByte(rest, '"')
			i, err := strconv.Atoi(string(rest[:max(end, 0)]))
			if err != nil {
				continue
			}
			sc.mu.Lock()
			sc.pushes = append(sc.pushes, push{i: int32(i), at: at})
			sc.mu.Unlock()
			p.received.Add(1)
		case bytes.Contains(b, []byte(`"type":"ping"`)):
			sc.c.Write(p.ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
		case bytes.Contains(b, []byte(`"type":"error"`)), bytes.Contains(b, []byte(`"type":"complete"`)):
			p.errors.Add(1)
		}
	}
}

// shrink closes subscriptions beyond the first n.
func (p *subPool) shrink(n int) {
	for _, sc := range p.conns[n:] {
		sc.closed.Store(true)
		sc.c.CloseNow()
	}
	p.conns = p.conns[:n]
}

func (p *subPool) close() {
	p.cancel()
	for _, sc := range p.conns {
		sc.closed.Store(true)
		sc.c.CloseNow()
	}
	p.wg.Wait()
}

// settleSubs waits until the gateway counts want subscriptions, then lets
// it idle a moment so its resident memory reflects them.
func settleSubs(ctx context.Context, gw *crmProc, want int) error {
	err := waitFor(ctx, gw, 120*time.Second, fmt.Sprintf("%d subscriptions", want), func() error {
		n, err := cluster.LiveSubscriptions(ctx, gw.url)
		if err == nil && n != want {
			err = fmt.Errorf("%d subscriptions", n)
		}
		return err
	})
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // not a condition wait: memory needs a moment to settle
	return nil
}

// gwSubscriptions measures gateway B's resident memory idle, at o.gwSubs
// and at o.gwMaxSubs subscriptions, then the event-to-subscriber latency
// with o.gwSubs subscribers while gateway A takes gwPushRate updates/s.
func gwSubscriptions(ctx context.Context, o options, dev, gw *crmProc, rep *report) error {
	data, err := gql(ctx, dev.url, `{ customers(first: 50) { edges { node { id } } } }`, nil)
	if err != nil {
		return fmt.Errorf("seeded customers: %w", err)
	}
	var page struct {
		Customers struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	json.Unmarshal(data, &page)
	var ids []string
	for _, e := range page.Customers.Edges {
		ids = append(ids, e.Node.ID)
	}
	if len(ids) == 0 {
		return errors.New("no seeded customers")
	}

	idle, err := gw.rss()
	if err != nil {
		return err
	}
	subs := newSubPool(ctx, gw.url)
	subs.ids = ids
	defer subs.close()
	if err := subs.grow(o.gwSubs); err != nil {
		return fmt.Errorf("open %d subscriptions: %w", o.gwSubs, err)
	}
	if err := settleSubs(ctx, gw, o.gwSubs); err != nil {
		return err
	}
	rss1k, _ := gw.rss()
	growErr := subs.grow(o.gwMaxSubs)
	reached := len(subs.conns)
	if err := settleSubs(ctx, gw, reached); err != nil {
		return err
	}
	rssMax, _ := gw.rss()
	subs.shrink(o.gwSubs)
	if err := settleSubs(ctx, gw, o.gwSubs); err != nil {
		return err
	}

	// The drive: gwPushRate updateCustomer/s, paced open-loop, 32 callers.
	n := int(gwPushRate * gwPushDrive.Seconds())
	respAt := make([]atomic.Int64, n) // since subs.start; 0: failed
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	begin := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if time.Since(begin) > gwPushDrive {
					continue // the window is over: not sent
				}
				_, err := gql(ctx, dev.url, `mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { id } }`,
					map[string]any{"i": map[string]any{"id": ids[i%len(ids)], "name": fmt.Sprint(gwPushPrefix, i)}})
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				respAt[i].Store(int64(time.Since(subs.start)))
			}
		}()
	}
	subs.recording.Store(true)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if wait := time.Until(begin.Add(time.Duration(i) * time.Second / gwPushRate)); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	driveD := time.Since(begin)
	// Pushes still in flight: wait until none arrive for 2 s (at most 30 s).
	for last, quiet, t0 := int64(-1), time.Now(), time.Now(); time.Since(quiet) < 2*time.Second && time.Since(t0) < 30*time.Second; {
		if got := subs.received.Load(); got != last {
			last, quiet = got, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	subs.recording.Store(false)
	rssDrive, _ := gw.rss()

	var lat []time.Duration
	early := 0
	for _, sc := range subs.conns {
		sc.mu.Lock()
		for _, p := range sc.pushes {
			if int(p.i) >= n {
				continue
			}
			if r := respAt[p.i].Load(); r != 0 {
				d := p.at - time.Duration(r)
				if d < 0 {
					early++
				}
				lat = append(lat, d)
			}
		}
		sc.mu.Unlock()
	}
	followers := map[string]int64{}
	for _, sc := range subs.conns {
		followers[sc.id]++
	}
	var okMut, want int64
	for i := range respAt {
		if respAt[i].Load() != 0 {
			okMut++
			want += followers[ids[i%len(ids)]]
		}
	}
	mutNote := fmt.Sprintf("%d of %d scheduled updateCustomer answered in %.1f s: %.0f/s (%d failed", okMut, n, driveD.Seconds(),
		float64(okMut)/driveD.Seconds(), failed.Load())
	if firstErr != nil {
		mutNote += fmt.Sprintf(", first: %v", firstErr)
	}
	mutNote += "; those not started within the window are dropped)"
	reachedNote := fmt.Sprint(reached)
	if growErr != nil {
		reachedNote += fmt.Sprintf(" (of %d: %v)", o.gwMaxSubs, growErr)
	}
	perSub := func(a, b int64, k int) string {
		if k <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f KB", float64(b-a)/float64(k)/1024)
	}
	rep.add(section{
		title: "Gateway: subscriptions on a second process (`crm gateway`)",
		note: fmt.Sprintf("%d `%s` subscriptions on `crm gateway`, spread evenly over the seeded customers (each customer's screen open in %d clients), one graphql-transport-ws connection each, from this process; "+
			"`crm dev` takes a steady %d `updateCustomer`/s (%d callers, %d seeded customers round-robin) for %s. "+
			"Push latency = push received - that mutation's HTTP response received (matched by the name it set; negative when the push came first). "+
			"Resident memory is VmRSS of the `crm gateway` process; per subscription is the growth divided by the added subscriptions. "+
			"Targets: push p99 < 50 ms; < 150 MB resident at 1,000 subscriptions; memory per subscription flat as they grow.",
			o.gwSubs, gwSubQuery, o.gwSubs/len(ids), gwPushRate, 32, len(ids), gwPushDrive),
		header: []string{"measurement", "value"},
		rows: [][]string{
			{"mutations during the drive", mutNote},
			{"pushes received / expected", fmt.Sprintf("%d / %d (%.1f%%), %d before the HTTP response, %d subscription errors",
				len(lat), want, 100*float64(len(lat))/float64(max(want, 1)), early, subs.errors.Load())},
			{"push latency p50", ms(percentile(lat, 0.5))},
			{"push latency p99", ms(percentile(lat, 0.99))},
			{"resident, idle", mb(idle)},
			{fmt.Sprintf("resident, %d subscriptions", o.gwSubs), mb(rss1k)},
			{fmt.Sprintf("resident, %s subscriptions", reachedNote), mb(rssMax)},
			{fmt.Sprintf("resident, %d subscriptions after the drive", o.gwSubs), mb(rssDrive)},
			{fmt.Sprintf("per subscription, idle → %d", o.gwSubs), perSub(idle, rss1k, o.gwSubs)},
			{fmt.Sprintf("per subscription, %d → %d", o.gwSubs, reached), perSub(rss1k, rssMax, reached-o.gwSubs)},
		},
	})
	return nil
}
