// Package feed is the gateway's event feed (Query.events and the
// eventRecorded subscription): every event of a set of areas, in each
// area's log order, exactly once, resumable from an opaque cursor. See
// docs/feed.md.
//
// One tailer per gateway process follows the events read model: woken by
// the projector's announcements of the events projection (and by a slow
// fallback poll while anyone subscribes, so that a lost announcement cannot
// stall it), it reads each area's new rows in position order, keeps only the
// contiguous prefix (positions have no gaps in a log, but rows of one area
// may become visible out of order), and keeps the last Buffer events of each
// area in a shared window. A subscriber behind the window pages the read
// model (catch-up) until it is close enough to the head, then takes events
// from the window; either way it takes an area's next event only when its
// position is the last delivered + 1, so the seam has no gap and no
// duplicate.
package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"crm/eventlog/errcode"
	"crm/graph/model"
)

// Reader is what the feed reads (readstore.Store satisfies it).
type Reader interface {
	// EventsAfter answers, for each area of after, at most limit events
	// after its position, ordered by area then position.
	EventsAfter(ctx context.Context, after map[string]int64, limit int) ([]*model.Event, error)
	// ContiguousHead answers the highest position up to which area's
	// events are all there, knowing they are up to from.
	ContiguousHead(ctx context.Context, area string, from int64) (int64, error)
}

// Config configures a Feed.
type Config struct {
	// Reader reads the events read model (required).
	Reader Reader
	// Announced returns a channel closed at the next announcement of the
	// events projection (live.Hub.Announced); nil: the fallback poll only.
	Announced func() <-chan struct{}
	// Buffer is how many events a live subscriber may be behind the head
	// (summed over its areas) before its subscription ends with
	// SLOW_CONSUMER; the window keeps this many events per area. Default
	// 2048.
	Buffer int
	// Page is how many events per area one read takes (the tailer's, a
	// catch-up's, at most one page per subscriber in memory). Default 256.
	Page int
	// Poll is the fallback poll interval while anyone subscribes; default 1s.
	Poll time.Duration
	// Logger receives read errors; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Buffer == 0 {
		c.Buffer = 2048
	}
	if c.Page == 0 {
		c.Page = 256
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Announced == nil {
		c.Announced = func() <-chan struct{} { return nil }
	}
}

// Validate reports every wrong field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Reader == nil {
		errs = append(errs, errors.New("feed: Config.Reader is required"))
	}
	if c.Buffer < 0 || c.Page < 0 || c.Poll < 0 {
		errs = append(errs, errors.New("feed: Buffer, Page and Poll must not be negative"))
	}
	return errors.Join(errs...)
}

// Feed is one gateway process's event feed. Run must run for subscriptions
// to be served.
type Feed struct {
	cfg Config

	mu   sync.Mutex
	head Position // per area: every event up to it is in the read model and the window
	win  map[string]*window
	// stale: nobody subscribed for a while, so head and the window were
	// not followed; the tailer brings head up to date before serving.
	stale    bool
	subs     map[*subscriber]struct{}
	advanced chan struct{} // closed and replaced when head moves
	arrived  chan struct{} // a subscriber came (wakes an idle tailer)
}

// window holds an area's latest events: evs[i] has position base+1+i.
type window struct {
	base int64
	evs  []*model.Event
}

// New returns a feed; the error says which Config field is wrong.
func New(cfg Config) (*Feed, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Feed{cfg: cfg, head: Position{}, win: map[string]*window{}, stale: true,
		subs: map[*subscriber]struct{}{}, advanced: make(chan struct{}), arrived: make(chan struct{}, 1)}
	for _, a := range Areas {
		f.head[a] = 0
		f.win[a] = &window{}
	}
	return f, nil
}

// Subscribers is the number of open feed subscriptions.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Run tails the events read model until ctx ends. With no subscriber it
// reads nothing at all.
func (f *Feed) Run(ctx context.Context) error {
	tick := time.NewTicker(f.cfg.Poll)
	defer tick.Stop()
	for ctx.Err() == nil {
		f.mu.Lock()
		idle := len(f.subs) == 0
		if idle && !f.stale {
			f.stale = true
			for _, a := range Areas {
				f.win[a] = &window{base: f.head[a]} // nobody reads it: free it
			}
		}
		f.mu.Unlock()
		if idle {
			select {
			case <-ctx.Done():
			case <-f.arrived:
			}
			continue
		}
		wake := f.cfg.Announced() // taken before reading: an announcement during the read wakes the next
		more, err := f.step(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.cfg.Logger.Warn("feed: read the events read model", "err", err)
			}
			wake = nil // retry at the next tick, not at every announcement
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-tick.C:
		case <-f.arrived:
		}
	}
	return nil
}

// step reads what follows head once (after bringing a stale head up to
// date) and reports whether an area had a full page (more may follow).
func (f *Feed) step(ctx context.Context) (bool, error) {
	f.mu.Lock()
	stale, from := f.stale, f.head.Copy()
	f.mu.Unlock()
	if stale {
		for _, a := range Areas {
			h, err := f.cfg.Reader.ContiguousHead(ctx, a, from[a])
			if err != nil {
				return false, err
			}
			from[a] = h
		}
		f.mu.Lock()
		f.head, f.stale = from.Copy(), false
		for _, a := range Areas {
			f.win[a] = &window{base: from[a]}
		}
		f.startPending()
		f.broadcast()
		f.mu.Unlock()
	}
	rows, err := f.cfg.Reader.EventsAfter(ctx, from, f.cfg.Page)
	if err != nil {
		return false, err
	}
	got := contiguous(rows, from)
	more := false
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stale { // everyone left meanwhile: Run starts over
		return false, nil
	}
	for a, evs := range got {
		w := f.win[a]
		w.evs = append(w.evs, evs...)
		f.head[a] = evs[len(evs)-1].PositionNum
		if len(w.evs) > 2*f.cfg.Buffer { // trim, amortized: keep the last Buffer
			drop := len(w.evs) - f.cfg.Buffer
			w.evs = append([]*model.Event(nil), w.evs[drop:]...)
			w.base += int64(drop)
		}
		more = more || len(evs) == f.cfg.Page
	}
	if len(got) > 0 {
		f.endSlow()
		f.broadcast()
	}
	return more, nil
}

// broadcast wakes the subscribers waiting for head to move. f.mu is held.
func (f *Feed) broadcast() {
	close(f.advanced)
	f.advanced = make(chan struct{})
}

// startPending starts the subscribers that asked for "from now" while head
// was stale. f.mu is held.
func (f *Feed) startPending() {
	for s := range f.subs {
		if s.pending {
			f.startNow(s)
		}
	}
}

// startNow starts s at head. f.mu is held.
func (f *Feed) startNow(s *subscriber) {
	for i, a := range s.areas {
		s.last[i].Store(f.head[a])
	}
	s.pending = false
	close(s.started)
}

// endSlow ends every live subscriber more than Buffer events behind head.
// f.mu is held.
func (f *Feed) endSlow() {
	for s := range f.subs {
		if s.live.Load() && !s.killed && s.lag(f.head) > int64(f.cfg.Buffer) {
			s.killed = true
			close(s.kill)
		}
	}
}

// Ended is the error a subscription ends with, for its client: Code
// (errcode.SlowConsumer when the subscriber fell more than Config.Buffer
// events behind the head, or UNAVAILABLE when the read model could not be read)
// and Cursor, the position after the last event delivered, to resume from.
type Ended struct {
	Code    errcode.Code
	Message string
	Cursor  string
}

func (e *Ended) Error() string { return fmt.Sprintf("%s: %s (cursor %s)", e.Code, e.Message, e.Cursor) }

// subscriber is one subscription's state. last is written by its serving
// goroutine only; the tailer reads it to measure the lag.
type subscriber struct {
	areas   []string
	last    []atomic.Int64 // per area of areas: the position last delivered
	live    atomic.Bool    // has taken events from the window
	started chan struct{}  // closed once last holds the start
	kill    chan struct{}  // closed by the tailer: too slow
	keep    Keep           // which events it may see (nil: all)
	pending bool           // from now, head stale: start when it is fresh (f.mu)
	killed  bool           // (f.mu)
}

func (s *subscriber) position() Position {
	p := make(Position, len(s.areas))
	for i, a := range s.areas {
		p[a] = s.last[i].Load()
	}
	return p
}

func (s *subscriber) lag(head Position) int64 {
	var n int64
	for i, a := range s.areas {
		n += max(0, head[a]-s.last[i].Load())
	}
	return n
}

// Subscribe delivers the feed of areas (from AreaSet) after start (nil:
// from now, the head as this gateway knows it) on the returned channel,
// until ctx ends or the subscriber falls behind. Each event carries its
// cursor. Before the channel closes, end is called once with the reason,
// an *Ended, unless ctx ended.
//
// Every event is delivered: see SubscribeKeeping for a subscriber that may
// see only some.
func (f *Feed) Subscribe(ctx context.Context, areas []string, start Position, end func(error)) <-chan *model.Event {
	return f.SubscribeKeeping(ctx, areas, start, nil, end)
}

// Keep reports, for a batch of events in feed order, which ones a
// subscriber may see (graph/access rules, with the subscriber's context).
// The others are not delivered, and still advance its cursor.
type Keep func(ctx context.Context, evs []*model.Event) ([]bool, error)

// SubscribeKeeping is Subscribe delivering only the events keep keeps (nil:
// all). The window and the tailer are shared by every subscriber; keep runs
// on each batch a subscriber takes, after the position check, so that the
// events it hides advance the cursor like delivered ones. An error of keep
// ends the subscription as an unreadable read model does (UNAVAILABLE,
// with the cursor).
func (f *Feed) SubscribeKeeping(ctx context.Context, areas []string, start Position, keep Keep, end func(error)) <-chan *model.Event {
	s := &subscriber{areas: areas, last: make([]atomic.Int64, len(areas)),
		started: make(chan struct{}), kill: make(chan struct{}), keep: keep}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	switch {
	case start != nil:
		for i, a := range areas {
			s.last[i].Store(start[a])
		}
		close(s.started)
	case f.stale:
		s.pending = true
	default:
		f.startNow(s)
	}
	f.mu.Unlock()
	select {
	case f.arrived <- struct{}{}:
	default:
	}
	out := make(chan *model.Event)
	go f.serve(ctx, s, out, end)
	return out
}

// serve delivers s's events on out until ctx ends or s is too slow.
func (f *Feed) serve(ctx context.Context, s *subscriber, out chan<- *model.Event, end func(error)) {
	defer close(out)
	defer func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}()
	select {
	case <-s.started:
	case <-ctx.Done():
		return
	}
	slow := func() {
		end(&Ended{Code: errcode.SlowConsumer, Cursor: s.position().Encode(),
			Message: fmt.Sprintf("the subscriber fell more than %d events behind; resume from extensions.cursor", f.cfg.Buffer)})
	}
	for {
		batch, wait, err := f.next(ctx, s)
		if err != nil {
			if ctx.Err() == nil {
				f.cfg.Logger.Warn("feed: catch-up read", "err", err)
				end(&Ended{Code: errcode.Unavailable, Cursor: s.position().Encode(),
					Message: "the event feed cannot be read now; resume from extensions.cursor"})
			}
			return
		}
		if len(batch) == 0 {
			select {
			case <-wait:
			case <-ctx.Done():
				return
			case <-s.kill:
				slow()
				return
			}
			continue
		}
		var kept []bool
		if s.keep != nil {
			if kept, err = s.keep(ctx, batch); err != nil {
				if ctx.Err() == nil {
					f.cfg.Logger.Warn("feed: access check", "err", err)
					end(&Ended{Code: errcode.Unavailable, Cursor: s.position().Encode(),
						Message: "the event feed cannot be read now; resume from extensions.cursor"})
				}
				return
			}
		}
		p := s.position()
		for j, ev := range batch {
			i := indexOf(s.areas, ev.AreaName)
			if i < 0 || ev.PositionNum != p[ev.AreaName]+1 {
				break // not the next of its area (cannot happen: batches start at last): read again
			}
			p[ev.AreaName] = ev.PositionNum
			if kept != nil && !kept[j] { // hidden: passed over, the cursor moves on
				s.last[i].Store(ev.PositionNum)
				continue
			}
			select {
			case out <- withCursor(ev, p):
				s.last[i].Store(ev.PositionNum)
			case <-ctx.Done():
				return
			case <-s.kill:
				slow()
				return
			}
		}
	}
}

func indexOf(areas []string, a string) int {
	for i, x := range areas {
		if x == a {
			return i
		}
	}
	return -1
}

// next returns s's next events: from the window when s is in it and at
// most Buffer behind, else a page of the read model (catch-up). With none
// yet, it returns a channel closed when head moves.
func (f *Feed) next(ctx context.Context, s *subscriber) ([]*model.Event, <-chan struct{}, error) {
	p := s.position()
	f.mu.Lock()
	wait := f.advanced
	inWindow := !f.stale && s.lag(f.head) <= int64(f.cfg.Buffer)
	for _, a := range s.areas {
		inWindow = inWindow && p[a] >= f.win[a].base
	}
	if inWindow {
		queues := make(map[string][]*model.Event, len(s.areas))
		for _, a := range s.areas {
			w := f.win[a]
			if i := int(p[a] - w.base); i < len(w.evs) {
				queues[a] = w.evs[i:min(len(w.evs), i+f.cfg.Page)]
			}
		}
		f.mu.Unlock()
		s.live.Store(true)
		return merge(queues, f.cfg.Page), wait, nil
	}
	f.mu.Unlock()
	rows, err := f.cfg.Reader.EventsAfter(ctx, p, f.cfg.Page)
	if err != nil {
		return nil, nil, err
	}
	return merge(contiguous(rows, p), -1), wait, nil
}
