package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
)

// errStopping ends work left for later because the consumer is stopping.
var errStopping = errors.New("consumer: stopping")

// item is one event to apply, from the stream or from the log.
type item struct {
	ev eventlog.Event
	// prev: no event of this partition lies strictly between prev and
	// ev.Position. Applying is safe only when prev <= checkpoint.
	prev int64
	// missing: the entry's content is unknown (undecodable); only its
	// position is known. It is skipped when at or below the checkpoint and
	// is a gap otherwise.
	missing bool
}

// part is one owned partition as the loop follows it.
type part struct {
	p   int
	key string
	st  *partStats
	// known is each sink's committed checkpoint of the partition.
	known []int64
	// readTo is the last position read from the stream into queue.
	readTo int64
	queue  []item
	// catchUp: the partition must be filled from the log before it follows
	// the stream again (taken over, gap found, lease found gone).
	catchUp bool
	// Failure bookkeeping of the event at failPos: each sink's failed
	// attempts and last error, and no retry before holdUntil.
	failPos   int64
	attempts  []int
	lastErr   []error
	holdUntil time.Time
	// through is the through mark last recorded.
	through int64
	// gapAt and gapRepeats: the same gap found again right after a
	// catch-up is worth an error log and a pause.
	gapAt      int64
	gapRepeats int
}

func (pt *part) setKnown(s int, cp int64) {
	pt.known[s] = cp
	pt.st.checkpoint.Store(pt.low())
}

// low is the lowest checkpoint of the sinks: what the partition reads
// after.
func (pt *part) low() int64 {
	low := pt.known[0]
	for _, k := range pt.known[1:] {
		low = min(low, k)
	}
	return low
}

// resetFailure forgets the failing event: it committed (or was parked).
func (pt *part) resetFailure() {
	pt.failPos, pt.holdUntil = 0, time.Time{}
	clear(pt.attempts)
	clear(pt.lastErr)
}

func (pt *part) held(now time.Time) bool { return now.Before(pt.holdUntil) }

// loop is the consumer's one reading and applying goroutine.
type loop struct {
	c     *Consumer
	m     *manager
	ctx   context.Context // ends on crash or end of grace
	stop  <-chan struct{} // graceful stop: finish the batch in hand
	parts map[int]*part
	rd    *blockingReader
	// infraFails counts consecutive database or Redis failures.
	infraFails int
	// singles: after a batch failed at commit, the next batches carry one
	// event each until this many have gone through, to find the culprit.
	singles int
	// gapSeen: a gap was found since the flag was last cleared.
	gapSeen bool
	// epoch is the value of the namespace's epoch key (see epochKey) that
	// the partitions have caught up under; idleRelayed is the relayed mark
	// read after the last read that found nothing, under that epoch (-1:
	// none).
	epoch       string
	idleRelayed int64
	// settling counts the short reads left after traffic: the two empty
	// reads that record the through mark come quickly after a burst, so
	// the partitions that got nothing are marked applied within a fraction
	// of a second, not two Blocks later.
	settling int
}

// settleBlock is how long a read waits while settling after traffic.
const settleBlock = 100 * time.Millisecond

func (l *loop) stopping() bool {
	select {
	case <-l.stop:
		return true
	case <-l.ctx.Done():
		return true
	default:
		return false
	}
}

// sleep waits d, or until ownership changes; false when stopping.
func (l *loop) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.m.changed:
		return !l.stopping()
	case <-l.stop:
		return false
	case <-l.ctx.Done():
		return false
	}
}

func (l *loop) run() {
	defer func() {
		l.rd.close()
		for p := range l.parts {
			l.drop(p)
		}
	}()
	for !l.stopping() {
		l.sync()
		if len(l.parts) == 0 {
			if !l.sleep(time.Hour) {
				return
			}
			continue
		}
		if err := l.step(); err != nil {
			if errors.Is(err, errStopping) || l.stopping() {
				return
			}
			l.infraFails++
			l.c.log.Warn("consumer: failure; retrying", "err", err, "retry", l.infraFails)
			if !l.sleep(l.c.backoff(l.infraFails)) {
				return
			}
			continue
		}
		l.infraFails = 0
	}
}

// sync takes the manager's view of ownership: new partitions start with a
// catch-up, dropped ones are handed back.
func (l *loop) sync() {
	want, recheck := l.m.ownership()
	for p := range l.parts {
		if !want[p] {
			l.drop(p)
		}
	}
	for p := range want {
		pt := l.parts[p]
		if pt == nil {
			pt = &part{p: p, key: eventlog.StreamKey(l.c.cfg.Namespace, l.c.cfg.Area, p), st: &l.c.parts[p], catchUp: true,
				known: make([]int64, len(l.c.cfg.Sinks)), attempts: make([]int, len(l.c.cfg.Sinks)),
				lastErr: make([]error, len(l.c.cfg.Sinks))}
			pt.st.owned.Store(true)
			pt.st.state.Store(StateCatchingUp)
			l.parts[p] = pt
		}
		if recheck[p] {
			pt.catchUp = true
		}
	}
}

func (l *loop) drop(p int) {
	pt := l.parts[p]
	delete(l.parts, p)
	pt.st.owned.Store(false)
	pt.st.state.Store(StateNotOwned)
	l.m.released(p)
}

// step does one thing: a catch-up, a batch of what is in hand, or a read.
func (l *loop) step() error {
	now := time.Now()
	var catching, ready, readable []*part
	for _, pt := range l.sorted() {
		switch {
		case pt.held(now) && pt.failPos == 0:
			// paused after a gap; nothing to do
		case pt.catchUp:
			catching = append(catching, pt)
		case len(pt.queue) > 0:
			if !pt.held(now) || pt.queue[0].ev.Position < pt.failPos {
				ready = append(ready, pt)
			}
		default:
			readable = append(readable, pt)
		}
	}
	switch {
	case len(catching) > 0:
		return l.catchUp(catching)
	case len(ready) > 0:
		return l.applyReady(ready)
	case len(readable) > 0:
		return l.read(readable)
	}
	// Everything is held: wait for the first hold to end.
	wake := now.Add(time.Hour)
	for _, pt := range l.parts {
		if pt.held(now) && pt.holdUntil.Before(wake) {
			wake = pt.holdUntil
		}
	}
	if !l.sleep(time.Until(wake)) {
		return errStopping
	}
	return nil
}

func (l *loop) sorted() []*part {
	out := make([]*part, 0, len(l.parts))
	for _, pt := range l.parts {
		out = append(out, pt)
	}
	slices.SortFunc(out, func(a, b *part) int { return a.p - b.p })
	return out
}

// read waits for entries after each readable partition's position, on
// all of them at once. Partitions with held work shorten the wait.
func (l *loop) read(ps []*part) error {
	block := l.c.cfg.Block
	if l.settling > 0 {
		block = min(block, settleBlock)
	}
	now := time.Now()
	for _, pt := range l.parts {
		if pt.held(now) {
			block = min(block, max(time.Until(pt.holdUntil), time.Millisecond))
		}
	}
	select {
	case <-l.m.changed:
		return nil // ownership changed: sync first
	default:
	}
	got, err := l.xread(ps, block)
	if errors.Is(err, redis.Nil) {
		l.settling = max(l.settling-1, 0)
		return l.idle(ps)
	}
	l.idleRelayed, l.settling = -1, 2
	if err != nil || len(got) != 1 || len(ps) == 1 {
		return err
	}
	// Redis (before 7.2) answers a blocked XREAD with the one stream that
	// woke it, although the relay sends a batch's entries to their
	// partitions in one pipeline: take what the other partitions already
	// hold, without waiting, so that the events of one command in different
	// partitions make one batch and one transaction, not one per wake-up.
	rest := slices.DeleteFunc(slices.Clone(ps), func(pt *part) bool { return pt.key == got[0] })
	if _, err := l.xread(rest, -1); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// xread reads the streams of ps after what each has read, waiting up to
// block for an entry (-1: not at all), queues what it gets and returns the
// streams it got entries of; redis.Nil when there were none.
func (l *loop) xread(ps []*part, block time.Duration) ([]string, error) {
	args := &redis.XReadArgs{Count: int64(l.c.cfg.BatchSize), Block: block}
	for _, pt := range ps {
		args.Streams = append(args.Streams, pt.key)
	}
	for _, pt := range ps {
		args.Streams = append(args.Streams, eventlog.EntryID(pt.readTo))
	}
	res, err := l.rd.read(l.ctx, args)
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, err
		}
		if l.stopping() {
			return nil, errStopping
		}
		return nil, fmt.Errorf("read streams: %w", err)
	}
	got := make([]string, 0, len(res))
	for _, s := range res {
		if pt := l.byKey(s.Stream); pt != nil {
			l.decode(pt, s.Messages)
			got = append(got, s.Stream)
		}
	}
	return got, nil
}

func (l *loop) byKey(key string) *part {
	for _, pt := range l.parts {
		if pt.key == key {
			return pt
		}
	}
	return nil
}

// decode queues stream entries; an entry that cannot be read is a missing
// item, filled from the log when it lies beyond the checkpoint.
func (l *loop) decode(pt *part, msgs []redis.XMessage) {
	for _, m := range msgs {
		pos, ok := entryPosition(m.ID)
		if !ok || pos <= pt.readTo {
			// Not written by the relay (ids are "<position>-0"): nothing to apply.
			l.c.log.Error("consumer: foreign stream entry skipped", "partition", pt.p, "entry", m.ID)
			continue
		}
		pt.readTo = pos
		it := item{ev: eventlog.Event{Position: pos}}
		ev, prev, err := eventlog.DecodeEntry(m.Values)
		switch {
		case err != nil:
			l.c.log.Error("consumer: undecodable stream entry; will read it from the log", "partition", pt.p, "entry", m.ID, "err", err)
			it.missing = true
		case ev.Position != pos:
			l.c.log.Error("consumer: entry id and position disagree; will read it from the log", "partition", pt.p, "entry", m.ID, "position", ev.Position)
			it.missing = true
		case eventlog.Partition(ev.StreamID, l.c.cfg.Partitions) != pt.p:
			l.c.log.Error("consumer: entry in the wrong partition: relay and consumer must use the same Partitions",
				"partition", pt.p, "entry", m.ID, "stream_id", ev.StreamID)
			it.missing = true
		default:
			it.ev, it.prev = ev, prev
		}
		pt.queue = append(pt.queue, it)
	}
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

// epochKey holds a random value, set by the first consumer that finds it
// missing: it changes only when Redis lost its data (restarted empty,
// flushed), and then every partition must catch up from the log.
func epochKey(ns string) string { return ns + ":epoch" }

var epochScript = redis.NewScript(`local v = redis.call("GET", KEYS[1])
if not v then
  v = ARGV[1]
  redis.call("SET", KEYS[1], v)
end
return v`)

// checkEpoch reads (or sets) the epoch; when it is not the one the
// partitions caught up under, all of them catch up again.
func (l *loop) checkEpoch(seen string) error {
	if seen == "" {
		v, err := epochScript.Run(l.ctx, l.c.cfg.Redis, []string{epochKey(l.c.cfg.Namespace)}, newToken()).Text()
		if err != nil {
			return fmt.Errorf("epoch: %w", err)
		}
		seen = v
	}
	if seen != l.epoch {
		if l.epoch != "" {
			l.c.log.Warn("consumer: Redis lost its data; catching up every partition from the log")
		}
		for _, pt := range l.parts {
			pt.catchUp = true
		}
		l.epoch, l.idleRelayed = seen, -1
	}
	return nil
}

// idle follows a read that found nothing: every entry the relay had
// written when the previous idle read ended (idleRelayed) was in the
// streams before this read began, so the partitions read, with nothing in
// hand, are applied through it — unless Redis lost its data meanwhile,
// which the epoch tells. Recording that (the through mark) lets a reader
// wait for "the log up to P" on a partition that gets no event. It costs
// one MGET per idle read, and a statement only when the mark moves.
func (l *loop) idle(ps []*part) error {
	c := l.c
	vals, err := c.cfg.Redis.MGet(l.ctx, eventlog.RelayedKey(c.cfg.Namespace, c.cfg.Area), epochKey(c.cfg.Namespace)).Result()
	if err != nil {
		return fmt.Errorf("read relayed mark: %w", err)
	}
	ep, _ := vals[1].(string)
	if ep == "" || ep != l.epoch {
		return l.checkEpoch(ep)
	}
	h := l.idleRelayed
	rel, _ := vals[0].(string)
	l.idleRelayed, _ = strconv.ParseInt(rel, 10, 64)
	var nums []int
	for _, pt := range ps {
		if l.parts[pt.p] == pt && !pt.catchUp && len(pt.queue) == 0 && pt.through < h {
			nums = append(nums, pt.p)
		}
	}
	if len(nums) == 0 {
		return nil
	}
	if _, err := c.cfg.Pool.Exec(l.ctx, c.q.through, c.names, c.cfg.Area, nums, h); err != nil {
		return fmt.Errorf("record through mark: %w", err)
	}
	for _, p := range nums {
		l.parts[p].through = h
	}
	return nil
}

// gap records that pt found entries missing at pos: it catches up from
// the log, after a pause when the same gap comes back right after one.
func (l *loop) gap(pt *part, pos int64) {
	if pos == pt.gapAt {
		pt.gapRepeats++
	} else {
		pt.gapAt, pt.gapRepeats = pos, 1
	}
	if pt.gapRepeats > 1 {
		l.c.log.Error("consumer: entries still missing after catching up from the log", "partition", pt.p, "position", pos)
		pt.holdUntil = time.Now().Add(l.c.backoff(pt.gapRepeats))
	}
	pt.catchUp, pt.queue = true, nil
	l.gapSeen = true
}

// catchUp applies the partitions' events from the log, from their
// checkpoints to the log's end, reading the log once for all of them.
func (l *loop) catchUp(ps []*part) error {
	c := l.c
	if err := l.checkEpoch(""); err != nil {
		return err
	}
	nums := make([]int, len(ps))
	for i, pt := range ps {
		nums[i] = pt.p
		pt.st.state.Store(StateCatchingUp)
	}
	cps, err := c.readCheckpoints(l.ctx, nums)
	if err != nil {
		return err
	}
	after := int64(-1)
	chain := make(map[int]int64, len(ps))
	for _, pt := range ps {
		for s, name := range c.names {
			pt.setKnown(s, cps[cpKey{name, pt.p}])
		}
		pt.queue, pt.readTo = nil, pt.low()
		chain[pt.p] = pt.low()
		if after < 0 || pt.low() < after {
			after = pt.low()
		}
	}
	c.log.Info("consumer: catching up from the log", "partitions", nums, "from", after)
	pages := ReadAhead(l.ctx, c.cfg.Source, after, eventlog.MaxPageLimit)
	defer pages.Stop()
	for {
		if l.stopping() {
			return errStopping
		}
		evs, err := pages.Next(l.ctx)
		if err != nil {
			return fmt.Errorf("read log after %d: %w", after, err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Position <= after {
				return fmt.Errorf("read log after %d: got position %d out of order", after, ev.Position)
			}
			after = ev.Position
			p := eventlog.Partition(ev.StreamID, c.cfg.Partitions)
			pt := l.parts[p]
			if pt == nil || !pt.catchUp || ev.Position <= chain[p] {
				continue
			}
			// The log is contiguous, so the previous event of this
			// partition is the last one kept.
			pt.queue = append(pt.queue, item{ev: ev, prev: chain[p]})
			chain[p] = ev.Position
		}
		if err := l.drain(ps); err != nil {
			return err
		}
	}
	// The log had nothing after `after`: the partitions are applied through it.
	if _, err := c.cfg.Pool.Exec(l.ctx, c.q.through, c.names, c.cfg.Area, nums, after); err != nil {
		return fmt.Errorf("record through mark: %w", err)
	}
	for _, pt := range ps {
		pt.catchUp, pt.readTo, pt.through = false, pt.low(), max(pt.through, after)
		pt.st.state.Store(StateRunning)
	}
	c.catch.Add(int64(len(ps)))
	c.log.Info("consumer: caught up; following the streams", "partitions", nums, "through", after)
	return nil
}

// drain applies the queues of ps until they are empty, waiting out the
// holds of failing events: during a catch-up, as two batches of disjoint
// partitions sent at once (applySplit).
func (l *loop) drain(ps []*part) error {
	for {
		now := time.Now()
		var ready []*part
		var wait time.Duration
		for _, pt := range ps {
			if len(pt.queue) == 0 || l.parts[pt.p] != pt {
				continue
			}
			if pt.held(now) && pt.queue[0].ev.Position >= pt.failPos {
				wait = max(wait, time.Until(pt.holdUntil))
				continue
			}
			ready = append(ready, pt)
		}
		if len(ready) == 0 {
			if wait == 0 {
				return nil
			}
			if !l.sleep(wait) {
				return errStopping
			}
			l.sync()
			continue
		}
		l.gapSeen = false
		apply := l.applyReady
		if len(ready) > 1 && l.singles == 0 {
			apply = l.applySplit
		}
		if err := apply(ready); err != nil {
			return err
		}
		if l.gapSeen {
			// Only when a checkpoint moved back under us: start over.
			return errors.New("entries missing during catch-up from the log; starting over")
		}
	}
}

// blockingReader does the loop's blocking stream reads on a connection of
// its own, so that they can be interrupted with CLIENT UNBLOCK.
type blockingReader struct {
	rdb  redis.UniversalClient
	conn *redis.Conn
	id   atomic.Int64
}

func (r *blockingReader) read(ctx context.Context, args *redis.XReadArgs) ([]redis.XStream, error) {
	client, ok := r.rdb.(*redis.Client)
	if !ok {
		return r.rdb.XRead(ctx, args).Result()
	}
	if r.conn == nil {
		conn := client.Conn()
		id, err := conn.ClientID(ctx).Result()
		if err != nil {
			conn.Close()
			return nil, err
		}
		r.conn = conn
		r.id.Store(id)
	}
	res, err := r.conn.XRead(ctx, args).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		r.close()
	}
	return res, err
}

// interrupt ends a blocking read in flight (it returns as if it had timed
// out). Reads that start later are not affected.
func (r *blockingReader) interrupt() {
	id := r.id.Load()
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.rdb.ClientUnblock(ctx, id)
}

func (r *blockingReader) close() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
		r.id.Store(0)
	}
}
