package main

import (
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

const subQuery = `subscription($id: ID) { customerChanged(id: $id) { id name version } }`

// Subscriber groups: who a subscriber is in the report.
const (
	groupStayed   = "stayed"   // opened on a gateway that was not killed, never disconnected
	groupMoved    = "moved"    // opened on the killed gateway, reconnected to the survivor
	groupRestart  = "restart"  // opened on the killed gateway after its restart
	groupDropped  = "dropped"  // disconnected although its gateway lived (a finding)
	groupNotMoved = "notmoved" // on the killed gateway and could not reconnect
)

// subscriber is one websocket with one customerChanged(id) subscription.
// When its connection breaks it reconnects to the next gateway.
type subscriber struct {
	n        int
	customer int    // index of the hot customer it follows
	group    string // "initial" or groupRestart
	home     int    // the gateway it was opened on
	custID   string // the customer's id

	mu       sync.Mutex
	conn     *websocket.Conn
	gw       int            // the gateway it is connected to now
	lostAt   time.Time      // when its first connection broke (zero: never)
	backAt   time.Time      // when it subscribed again after that
	pushes   map[int]pushAt // the first push of each marker
	all      []pushAt       // every push
	received int            // every push, duplicates included
	errs     []string
}

// pushAt is one push: when, through which gateway, and the customer's
// version it showed.
type pushAt struct {
	at      time.Time
	gw      int
	version int64
}

// subs holds every subscriber of the run.
type subs struct {
	gws    []*cluster.Gateway
	prefix string // the markers' prefix: pushes of other names are ignored
	fix    *fixture
	ctx    context.Context
	cancel context.CancelFunc
	// reconnect is cleared at the end, so closing connections does not
	// start reconnects.
	reconnect atomic.Bool
	wg        sync.WaitGroup

	mu   sync.Mutex
	list []*subscriber
}

func newSubs(ctx context.Context, gws []*cluster.Gateway, prefix string, fix *fixture) *subs {
	s := &subs{gws: gws, prefix: prefix, fix: fix}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.reconnect.Store(true)
	return s
}

func wsURL(g *cluster.Gateway) string { return "ws" + strings.TrimPrefix(g.URL, "http") + "/graphql" }

// open opens n subscriptions on gateway gw in group, spread evenly over
// the hot customers, 32 dials at a time.
func (s *subs) open(gw, n int, group string) error {
	s.mu.Lock()
	first := len(s.list)
	var news []*subscriber
	for k := 0; k < n; k++ {
		sb := &subscriber{n: first + k, customer: k % len(s.fix.customers), group: group, home: gw, gw: gw, custID: s.fix.customers[k%len(s.fix.customers)], pushes: map[int]pushAt{}}
		news = append(news, sb)
		s.list = append(s.list, sb)
	}
	s.mu.Unlock()
	sem := make(chan struct{}, 32)
	errs := make([]error, len(news))
	var wg sync.WaitGroup
	for i, sb := range news {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = s.dial(sb, gw)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// dial connects sb to gateway gw and subscribes.
func (s *subs) dial(sb *subscriber, gw int) error {
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(s.gws[gw]), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return fmt.Errorf("dial gateway-%d: %w", gw+1, err)
	}
	c.SetReadLimit(1 << 20)
	fail := func(err error) error { c.CloseNow(); return err }
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"authorization": "Bearer " + s.gws[gw].Token}})
	if err := c.Write(ctx, websocket.MessageText, init); err != nil {
		return fail(fmt.Errorf("connection_init: %w", err))
	}
	if _, b, err := c.Read(ctx); err != nil || !strings.Contains(string(b), `"connection_ack"`) {
		return fail(fmt.Errorf("connection_ack: %s %v", b, err))
	}
	msg, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": subQuery, "variables": map[string]any{"id": s.fix.customers[sb.customer]}}})
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		return fail(fmt.Errorf("subscribe: %w", err))
	}
	sb.mu.Lock()
	sb.conn, sb.gw = c, gw
	if !sb.lostAt.IsZero() {
		sb.backAt = time.Now()
	}
	sb.mu.Unlock()
	s.wg.Add(1)
	go s.read(sb, c, gw)
	return nil
}

// message is a graphql-transport-ws message as far as the run reads it.
type message struct {
	Type    string `json:"type"`
	Payload struct {
		Data struct {
			CustomerChanged struct {
				Name    string
				Version int64
			} `json:"customerChanged"`
		} `json:"data"`
	} `json:"payload"`
}

// read takes c's messages until it breaks, noting the first push of each
// marker; then it reconnects sb to the next gateway that takes it.
func (s *subs) read(sb *subscriber, c *websocket.Conn, gw int) {
	defer s.wg.Done()
	for {
		_, b, err := c.Read(s.ctx)
		at := time.Now()
		if err != nil {
			if s.ctx.Err() == nil && s.reconnect.Load() {
				s.lost(sb, gw, err)
			}
			return
		}
		var m message
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		switch m.Type {
		case "next":
			cc := m.Payload.Data.CustomerChanged
			p := pushAt{at: at, gw: gw, version: cc.Version}
			sb.mu.Lock()
			sb.received++
			sb.all = append(sb.all, p)
			if n, err := strconv.Atoi(strings.TrimPrefix(cc.Name, s.prefix)); err == nil && strings.HasPrefix(cc.Name, s.prefix) {
				if _, seen := sb.pushes[n]; !seen {
					sb.pushes[n] = p
				}
			}
			sb.mu.Unlock()
		case "ping":
			_ = c.Write(s.ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
		case "error", "complete":
			sb.mu.Lock()
			sb.errs = append(sb.errs, fmt.Sprintf("gateway-%d: %s", gw+1, b))
			sb.mu.Unlock()
		}
	}
}

// lost reconnects sb, whose connection to gw broke, to the other
// gateways in turn, for up to 60 s.
func (s *subs) lost(sb *subscriber, gw int, cause error) {
	sb.mu.Lock()
	if sb.lostAt.IsZero() {
		sb.lostAt = time.Now()
	}
	sb.errs = append(sb.errs, fmt.Sprintf("gateway-%d: connection lost: %v", gw+1, cause))
	sb.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		deadline := time.Now().Add(60 * time.Second)
		backoff := 100 * time.Millisecond
		for k := 1; s.ctx.Err() == nil && s.reconnect.Load(); k++ {
			next := (gw + k) % len(s.gws)
			err := s.dial(sb, next)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				sb.mu.Lock()
				sb.errs = append(sb.errs, "no reconnect within 60s: "+err.Error())
				sb.mu.Unlock()
				return
			}
			select {
			case <-s.ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	}()
}

// snapshot returns the subscribers.
func (s *subs) snapshot() []*subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*subscriber(nil), s.list...)
}

// close ends every subscription without reconnecting.
func (s *subs) close() {
	s.reconnect.Store(false)
	s.cancel()
	for _, sb := range s.snapshot() {
		sb.mu.Lock()
		if sb.conn != nil {
			sb.conn.CloseNow()
		}
		sb.mu.Unlock()
	}
	s.wg.Wait()
}

// waitSubscriptions waits until gateway g counts want live subscriptions
// (the resolvers have registered them with the gateway's hub) and returns
// when that was.
func waitSubscriptions(ctx context.Context, g *cluster.Gateway, want int, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for {
		n, err := cluster.LiveSubscriptions(ctx, g.URL)
		if err == nil && n == want {
			return time.Now(), nil
		}
		if err == nil {
			err = fmt.Errorf("%d live subscriptions", n)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("gateway %s: want %d subscriptions: %w", g.URL, want, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
