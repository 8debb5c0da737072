package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
)

// errStopping ends work left for redelivery because the partition is
// stopping.
var errStopping = errors.New("consumer: partition stopping")

// item is one event to apply, from the stream or from the log.
type item struct {
	ev eventlog.Event
	// prev: no event of this partition lies strictly between prev and
	// ev.Position. Applying is safe only when prev <= checkpoint.
	prev int64
	// id is the Redis entry id to acknowledge ("" for events from the log).
	id string
	// missing: the entry's content is unknown (trimmed while pending, or
	// undecodable); only its position is known. It is skipped when at or
	// below the checkpoint and is a gap otherwise.
	missing bool
}

// partWorker follows one owned partition.
type partWorker struct {
	c    *Consumer
	p    int
	key  string
	ctx  context.Context // ends on crash, lost lease or end of grace
	stop <-chan struct{} // graceful stop
	st   *partStats
	log  *slog.Logger
	// known is a checkpoint value this worker has seen committed; the
	// checkpoint never moves back, so entries at or below it can be
	// acknowledged without a transaction.
	known int64
	// through is the through mark this worker last recorded (see
	// advanceThrough).
	through int64
	// reclaimed is when the worker last took over entries left pending
	// under another consumer (see reclaim).
	reclaimed time.Time
}

func newPartWorker(ctx context.Context, c *Consumer, p int, stop <-chan struct{}) *partWorker {
	return &partWorker{
		c:    c,
		p:    p,
		key:  eventlog.StreamKey(c.cfg.Namespace, c.cfg.Area, p),
		ctx:  ctx,
		stop: stop,
		st:   &c.parts[p],
		log:  c.log.With("partition", p),
	}
}

func (w *partWorker) stopping() bool {
	select {
	case <-w.stop:
		return true
	case <-w.ctx.Done():
		return true
	default:
		return false
	}
}

// sleep waits d; false when the partition is stopping meanwhile.
func (w *partWorker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stop:
		return false
	case <-w.ctx.Done():
		return false
	}
}

func (w *partWorker) setCheckpoint(cp int64) {
	if cp > w.known {
		w.known = cp
	}
	w.st.checkpoint.Store(cp)
}

func (w *partWorker) run() {
	w.st.owned.Store(true)
	w.st.state.Store(StateRunning)
	defer func() {
		w.st.owned.Store(false)
		w.st.state.Store(StateNotOwned)
		w.c.releaseLease(w.p)
	}()
	var catchUp bool
	for fails := 1; ; fails++ {
		created, err := w.prepare()
		if err == nil {
			catchUp = created
			break
		}
		w.log.Warn("consumer: preparing partition", "err", err)
		if !w.sleep(w.c.backoff(fails)) {
			return
		}
	}
	w.follow(catchUp)
}

// prepare reads the checkpoint, makes sure the consumer group exists and
// claims what a dead consumer left pending. created reports a new group:
// the stream may have been lost, so the partition catches up first.
func (w *partWorker) prepare() (created bool, err error) {
	cp, err := w.c.readCheckpoint(w.ctx, w.p)
	if err != nil {
		return false, err
	}
	w.setCheckpoint(cp)
	if created, err = w.createGroup(); err != nil {
		return false, err
	}
	if !created {
		w.claim(0)
	}
	return created, nil
}

// createGroup creates the partition's consumer group at the checkpoint, so
// it delivers only entries after it. BUSYGROUP (it exists) is fine.
func (w *partWorker) createGroup() (created bool, err error) {
	err = w.c.cfg.Redis.XGroupCreateMkStream(w.ctx, w.key, w.c.group, eventlog.EntryID(w.known)).Err()
	if err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create group on %s: %w", w.key, err)
	}
	return true, nil
}

// claim moves every entry pending in the group for at least minIdle to
// this consumer (whoever had them held this partition's lease and is gone)
// and forgets consumers with nothing pending. Failures are only logged: the
// checkpoint and gap detection make up for anything left behind.
func (w *partWorker) claim(minIdle time.Duration) {
	rdb, c := w.c.cfg.Redis, w.c
	start := "0-0"
	for range 1000 {
		ids, next, err := rdb.XAutoClaimJustID(w.ctx, &redis.XAutoClaimArgs{
			Stream: w.key, Group: c.group, Consumer: c.cfg.ConsumerID, Start: start, Count: int64(c.cfg.BatchSize),
			MinIdle: minIdle,
		}).Result()
		if err != nil {
			w.log.Warn("consumer: claim pending entries", "err", err)
			return
		}
		if len(ids) > 0 {
			w.log.Info("consumer: claimed pending entries", "count", len(ids))
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	consumers, err := rdb.XInfoConsumers(w.ctx, w.key, c.group).Result()
	if err != nil {
		return
	}
	for _, cons := range consumers {
		if cons.Name != c.cfg.ConsumerID && cons.Pending == 0 {
			rdb.XGroupDelConsumer(w.ctx, w.key, c.group, cons.Name)
		}
	}
}

// follow reads the stream until the partition stops: first this consumer's
// pending entries ("0"), then new ones (">"), catching up from the log
// whenever entries are found missing or the group is gone.
func (w *partWorker) follow(catchUp bool) {
	c := w.c
	pending, cursor := true, "0"
	var fails, gapRepeats int
	var lastGap int64 = -1
	for !w.stopping() {
		if catchUp {
			if lastGap >= 0 && gapRepeats > 1 && !w.sleep(c.backoff(gapRepeats)) {
				return
			}
			if err := w.catchUp(); err != nil {
				if errors.Is(err, errStopping) || w.stopping() {
					return
				}
				fails++
				w.log.Warn("consumer: catch-up failed; retrying", "err", err, "retry", fails)
				if !w.sleep(c.backoff(fails)) {
					return
				}
				continue
			}
			// Entries delivered to a previous owner during a brief overlap
			// may still be pending under its name: take them too, so the
			// pending read below acknowledges them.
			w.claim(0)
			catchUp, pending, cursor, fails = false, true, "0", 0
			continue
		}
		args := &redis.XReadGroupArgs{
			Group: c.group, Consumer: c.cfg.ConsumerID, Count: int64(c.cfg.BatchSize), Block: c.cfg.Block,
			Streams: []string{w.key, ">"},
		}
		var head int64
		if pending {
			args.Streams[1], args.Block = cursor, -1 // history answers at once
		} else {
			head = w.relayed() // read before the stream: see advanceThrough
		}
		res, err := c.cfg.Redis.XReadGroup(w.ctx, args).Result()
		switch {
		case errors.Is(err, redis.Nil):
			pending, fails = false, 0
			if w.advanceThrough(head) && w.reclaim() {
				pending, cursor = true, "0"
			}
			continue
		case err != nil && strings.HasPrefix(err.Error(), "NOGROUP"):
			// The stream or its group is gone (Redis restarted empty,
			// flushed, key deleted): whatever it held must come from the log.
			w.log.Warn("consumer: consumer group missing; recreating and catching up")
			if _, err := w.createGroup(); err != nil {
				fails++
				w.log.Warn("consumer: recreate group", "err", err, "retry", fails)
				if !w.sleep(c.backoff(fails)) {
					return
				}
			}
			catchUp = true
			continue
		case err != nil:
			if w.stopping() {
				return
			}
			fails++
			w.log.Warn("consumer: reading stream", "err", err, "retry", fails)
			w.sleep(c.backoff(fails))
			continue
		}
		fails = 0
		var msgs []redis.XMessage
		if len(res) > 0 {
			msgs = res[0].Messages
		}
		if pending {
			if len(msgs) == 0 {
				pending = false
				continue
			}
			cursor = msgs[len(msgs)-1].ID
		}
		if len(msgs) == 0 {
			if !pending && w.advanceThrough(head) && w.reclaim() {
				pending, cursor = true, "0"
			}
			continue
		}
		gapAt, err := w.applyItems(w.decode(msgs))
		if err != nil { // stopping: the rest stays pending for redelivery
			return
		}
		if !pending && gapAt < 0 && len(msgs) < c.cfg.BatchSize && w.advanceThrough(head) && w.reclaim() {
			pending, cursor = true, "0"
		}
		if gapAt >= 0 {
			if gapAt == lastGap {
				gapRepeats++
			} else {
				lastGap, gapRepeats = gapAt, 1
			}
			if gapRepeats > 1 {
				w.log.Error("consumer: entries still missing after catching up from the log", "position", gapAt)
			}
			catchUp = true
		}
	}
}

// decode turns stream entries into items; an entry that cannot be read is a
// missing item, filled from the log when it lies beyond the checkpoint.
func (w *partWorker) decode(msgs []redis.XMessage) []item {
	items := make([]item, 0, len(msgs))
	for _, m := range msgs {
		pos, ok := entryPosition(m.ID)
		if !ok {
			// Not written by the relay (ids are "<position>-0"): nothing to apply.
			w.log.Error("consumer: foreign stream entry acknowledged without applying", "entry", m.ID)
			w.ack([]item{{id: m.ID}})
			continue
		}
		it := item{id: m.ID, ev: eventlog.Event{Position: pos}}
		if len(m.Values) == 0 {
			it.missing = true // trimmed while pending
			items = append(items, it)
			continue
		}
		ev, prev, err := eventlog.DecodeEntry(m.Values)
		switch {
		case err != nil:
			w.log.Error("consumer: undecodable stream entry; will read it from the log", "entry", m.ID, "err", err)
			it.missing = true
		case ev.Position != pos:
			w.log.Error("consumer: entry id and position disagree; will read it from the log", "entry", m.ID, "position", ev.Position)
			it.missing = true
		case eventlog.Partition(ev.StreamID, w.c.cfg.Partitions) != w.p:
			w.log.Error("consumer: entry in the wrong partition: relay and consumer must use the same Partitions",
				"entry", m.ID, "stream_id", ev.StreamID)
			it.missing = true
		default:
			it.ev, it.prev = ev, prev
		}
		items = append(items, it)
	}
	return items
}

// entryPosition parses a relay entry id "<position>-0".
func entryPosition(id string) (int64, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || seq != "0" {
		return 0, false
	}
	pos, err := strconv.ParseInt(ms, 10, 64)
	return pos, err == nil && pos > 0
}

// catchUp applies this partition's events from the log, from the
// checkpoint to the log's end.
func (w *partWorker) catchUp() error {
	c := w.c
	w.st.state.Store(StateCatchingUp)
	cp, err := c.readCheckpoint(w.ctx, w.p)
	if err != nil {
		return err
	}
	w.setCheckpoint(cp)
	w.log.Info("consumer: catching up from the log", "checkpoint", cp)
	limit := min(c.cfg.BatchSize*c.cfg.Partitions, eventlog.MaxPageLimit)
	after, chain := cp, cp
	for {
		if w.stopping() {
			return errStopping
		}
		evs, err := c.cfg.Source.ReadLog(w.ctx, after, limit)
		if err != nil {
			return fmt.Errorf("read log after %d: %w", after, err)
		}
		if len(evs) == 0 {
			break
		}
		var items []item
		for _, ev := range evs {
			if ev.Position <= after {
				return fmt.Errorf("read log after %d: got position %d out of order", after, ev.Position)
			}
			after = ev.Position
			if eventlog.Partition(ev.StreamID, c.cfg.Partitions) == w.p {
				// The log is contiguous from cp on, so the previous event
				// of this partition is the last one we kept.
				items = append(items, item{ev: ev, prev: chain})
				chain = ev.Position
			}
		}
		gapAt, err := w.applyItems(items)
		if err != nil {
			return err
		}
		if gapAt >= 0 {
			// Only when the checkpoint moved back under us: start over.
			return fmt.Errorf("checkpoint moved back during catch-up (at position %d)", gapAt)
		}
	}
	// The log had nothing after `after`: the partition is applied through it.
	w.markThrough(after)
	c.catch.Add(1)
	w.st.state.Store(StateRunning)
	w.log.Info("consumer: caught up; following the stream again", "checkpoint", w.st.checkpoint.Load())
	return nil
}

// ack acknowledges entries after their commit. A failure only means they
// are delivered again and skipped.
func (w *partWorker) ack(items []item) {
	if w.c.crashed.Load() {
		return
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		if it.id != "" {
			ids = append(ids, it.id)
		}
	}
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 5*time.Second)
	defer cancel()
	if err := w.c.cfg.Redis.XAck(ctx, w.key, w.c.group, ids...).Err(); err != nil {
		w.log.Warn("consumer: XACK failed; entries will be redelivered and skipped", "err", err)
	}
}
