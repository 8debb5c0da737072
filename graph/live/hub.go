// Package live turns the projector's announcements into what the gateway
// needs: subscription pushes and the read-your-writes wait. One Redis
// subscription per gateway process fans out to every client.
package live

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/redis/go-redis/v9"
)

// Change is one read model row that changed (see projector.Change).
type Change struct {
	Kind string            `json:"kind"`
	ID   string            `json:"id"`
	Refs map[string]string `json:"refs,omitempty"`
	// At names the commit that announced the change (projection, area,
	// partition, position): subscribers of one change share one read of
	// the row as that commit left it.
	At string `json:"-"`
}

// Announcement is what the projector publishes after each committed batch
// (see projector.Announcement).
type Announcement struct {
	Projection string              `json:"projection"`
	Area       string              `json:"area"`
	Positions  []PartitionPosition `json:"positions"`
	Changes    []Change            `json:"changes"`
}

// PartitionPosition is one partition's checkpoint after the batch.
type PartitionPosition struct {
	Partition int   `json:"partition"`
	Position  int64 `json:"position"`
}

// Hub follows the announcement channel and fans changes out.
type Hub struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger

	mu     sync.Mutex
	nextID int
	subs   map[int]*sub
	wake   chan struct{} // closed and replaced on every announcement
	// announced holds, per projection, a channel closed at its next
	// announcement (see Announced).
	announced map[string]chan struct{}
	// applied is the highest position announced per projection, area and
	// partition: the projection has applied the partition up to it.
	applied map[Partition]int64
}

// Partition names one partition of an area's log as one projection
// follows it.
type Partition struct {
	Projection, Area string
	Partition        int
}

type sub struct {
	filter func(Change) bool
	ch     chan Change
}

// NewHub returns a hub on channel (projector.ChannelName(namespace)).
func NewHub(rdb redis.UniversalClient, channel string, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{rdb: rdb, channel: channel, log: log, subs: map[int]*sub{}, wake: make(chan struct{}),
		applied: map[Partition]int64{}, announced: map[string]chan struct{}{}}
}

// Run follows the channel until ctx ends, resubscribing after errors.
func (h *Hub) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		ps := h.rdb.Subscribe(ctx, h.channel)
		if _, err := ps.Receive(ctx); err != nil {
			ps.Close()
			if ctx.Err() != nil {
				break
			}
			h.log.Warn("live: subscribe", "channel", h.channel, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		h.follow(ctx, ps)
		ps.Close()
	}
	return nil
}

func (h *Hub) follow(ctx context.Context, ps *redis.PubSub) {
	ch := ps.Channel(redis.WithChannelSize(1000))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			// One commit of one consumer: an announcement per projection.
			var as []Announcement
			if err := segjson.Unmarshal([]byte(m.Payload), &as); err != nil {
				h.log.Warn("live: bad announcement", "err", err)
				continue
			}
			for _, a := range as {
				h.publish(a)
			}
		}
	}
}

// publish hands an announcement's changes to the subscribers it concerns
// and wakes the waiters. A subscriber too slow to keep up loses the push
// (its buffer is full) rather than slowing the others.
func (h *Hub) publish(a Announcement) {
	h.mu.Lock()
	defer h.mu.Unlock()
	at := fmt.Sprintf("%s/%s/%v", a.Projection, a.Area, a.Positions)
	if ch, ok := h.announced[a.Projection]; ok {
		close(ch)
		delete(h.announced, a.Projection)
	}
	for _, pp := range a.Positions {
		k := Partition{a.Projection, a.Area, pp.Partition}
		h.applied[k] = max(h.applied[k], pp.Position)
	}
	for _, c := range a.Changes {
		c.At = at
		for _, s := range h.subs {
			if s.filter(c) {
				select {
				case s.ch <- c:
				default:
				}
			}
		}
	}
	close(h.wake)
	h.wake = make(chan struct{})
}

// Subscribe returns the changes filter accepts, until ctx ends (then the
// channel is closed and the subscription gone).
func (h *Hub) Subscribe(ctx context.Context, filter func(Change) bool) <-chan Change {
	s := &sub{filter: filter, ch: make(chan Change, 64)}
	h.mu.Lock()
	id := h.nextID
	h.nextID++
	h.subs[id] = s
	h.mu.Unlock()
	out := make(chan Change)
	go func() {
		defer close(out)
		defer func() {
			h.mu.Lock()
			delete(h.subs, id)
			h.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-s.ch:
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// Announced returns a channel closed at the next announcement of
// projection's commits (whatever they changed): a wake-up for a reader that
// follows the projection's tables itself. Announcements are at most once;
// such a reader also polls, slowly.
func (h *Hub) Announced(projection string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.announced[projection]
	if !ok {
		ch = make(chan struct{})
		h.announced[projection] = ch
	}
	return ch
}

// Subscribers is the number of live subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// WaitApplied returns nil once p is applied up to position: as soon as an
// announcement says so, or when check (a direct look at the projection's
// checkpoint) does. Announcements are at most once (a gateway that
// resubscribes misses some), so check also runs every poll interval while
// no announcement settles it — not before the first interval: the
// announcement normally comes well within it, and the wait then costs no
// query at all.
func (h *Hub) WaitApplied(ctx context.Context, p Partition, position int64, poll time.Duration,
	check func(context.Context) (bool, error)) error {
	next := time.Now().Add(poll)
	for {
		h.mu.Lock()
		done, wake := h.applied[p] >= position, h.wake
		h.mu.Unlock()
		if done {
			return nil
		}
		if !time.Now().Before(next) {
			ok, err := check(ctx)
			if err != nil || ok {
				return err
			}
			next = time.Now().Add(poll)
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}
