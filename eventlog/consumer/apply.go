package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/errcode"
)

// sqlstateMoved is what consumer_advance raises when a checkpoint is not
// where the batch expected it.
const sqlstateMoved = "CRMCP"

// planned is what one batch does with one partition's queue.
type planned struct {
	pt    *part
	n     int     // items taken from the front of the queue (applied, parked or skipped)
	skips int     // of which skipped by every sink (at or below its checkpoint)
	cp    []int64 // each sink's checkpoint after the batch
	gapAt int64   // position where entries are missing after the batch's items, or 0
}

// ref is one event of a batch as one sink applies (or parks) it.
type ref struct {
	pt     *part
	sink   int
	it     item
	result any
	parked bool
	cause  error // why it is parked
}

// applyReady applies, as one batch, what the queues of ps hold: for each
// partition the items after its checkpoints up to a gap, a failing event
// being held back, or the end of the queue, each applied by every sink
// that has not applied it yet. The batch is one round trip and one
// transaction with the checkpoints; a failure of one event's statements
// leaves that event (for every sink) out of the next try, and the others
// still commit.
func (l *loop) applyReady(ps []*part) error {
	pb, err := l.build(ps)
	if err != nil {
		return err
	}
	return l.finish(pb, pb.send(l.ctx, l.c))
}

// applySplit applies what the queues of ps hold as splitBatches batches
// of disjoint partitions, each sent on its own connection as soon as it is
// built, so that PostgreSQL runs one batch while this goroutine decodes and
// queues the next (partitions of one area share no stream, and the
// batches' advisory locks are taken in key order, so they cannot
// deadlock; a send touches only its own batch). Each batch commits or
// fails on its own, as applyReady's.
func (l *loop) applySplit(ps []*part) error {
	n := min(splitBatches, len(ps))
	pbs := make([]*built, 0, n)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		pb, err := l.build(ps[i*len(ps)/n : (i+1)*len(ps)/n])
		if err != nil {
			errs[n] = err // this one and the rest not sent: their items stay queued
			break
		}
		pbs = append(pbs, pb)
		wg.Go(func() { errs[i] = pb.send(l.ctx, l.c) })
	}
	wg.Wait()
	// Each is recorded, whatever the others did: any may have committed.
	for i, pb := range pbs {
		errs[i] = l.finish(pb, errs[i])
	}
	if l.singles > 0 {
		// A batch failed at commit naming no event: one event per batch
		// until every item still queued has been tried alone, since the
		// other batches' partitions take turns with the culprit's.
		queued := 0
		for _, pt := range ps {
			queued += len(pt.queue)
		}
		l.singles = max(l.singles, queued)
	}
	return errors.Join(errs...)
}

// splitBatches is how many batches applySplit sends at once.
const splitBatches = 2

// built is one batch ready to send: its statements and what it does with
// each partition's queue.
type built struct {
	b       *Batch
	plans   []planned
	refs    []ref
	advance *stmt // nil: nothing to commit
	single  bool  // built in one-event-per-batch mode (l.singles)
}

// send runs the batch (after its checkpoint advance) in one round trip.
func (pb *built) send(ctx context.Context, c *Consumer) error {
	if pb.advance == nil {
		return nil
	}
	return pb.b.Send(ctx, c.cfg.Pool, *pb.advance)
}

// finish records a sent batch: committed, or sorted out by failed.
func (l *loop) finish(pb *built, err error) error {
	if pb.advance != nil && err != nil {
		var se *StatementError
		if !errors.As(err, &se) || !se.Committed {
			return l.failed(err, pb.plans, pb.refs)
		}
		l.c.log.Error("consumer: a handler's scan failed after its batch committed", "err", err)
	}
	l.committed(pb.plans, pb.refs, pb.single)
	return nil
}

// build queues, on a new batch, what applyReady applies for ps.
func (l *loop) build(ps []*part) (*built, error) {
	c := l.c
	now := time.Now()
	b := &Batch{}
	var plans []planned
	var refs []ref
	budget := -1
	if l.singles > 0 {
		budget = 1
	}
	for _, pt := range ps {
		pl := planned{pt: pt, cp: slices.Clone(pt.known)}
	items:
		for _, it := range pt.queue {
			if budget == 0 {
				break
			}
			pos := it.ev.Position
			if pos <= slices.Min(pl.cp) {
				pl.n++
				pl.skips++
				continue
			}
			if pt.held(now) && pos >= pt.failPos {
				break
			}
			for _, cp := range pl.cp {
				if cp < pos && (it.missing || it.prev > cp) {
					pl.gapAt = pos
					break items
				}
			}
			bm, refMark := b.mark(), len(refs)
			for s, sink := range c.cfg.Sinks {
				if pl.cp[s] >= pos {
					continue
				}
				b.ev = len(refs)
				r := ref{pt: pt, sink: s, it: it}
				if pt.failPos == pos && pt.attempts[s] >= c.cfg.MaxAttempts {
					c.parkStmt(b, sink.Name, pt.p, it.ev, pt.lastErr[s], pt.attempts[s])
					r.parked, r.cause = true, pt.lastErr[s]
				} else {
					sm := b.mark()
					res, err := c.handle(l.ctx, sink.Handler, b, it.ev)
					if err != nil {
						b.truncate(sm)
						if transient(err) {
							return nil, fmt.Errorf("handle %s (position %d): %w", it.ev.ID, pos, err)
						}
						if !l.fail(pt, s, it, err) {
							// Nothing of this event in this batch, for any sink.
							b.truncate(bm)
							refs = refs[:refMark]
							break items
						}
						c.parkStmt(b, sink.Name, pt.p, it.ev, pt.lastErr[s], pt.attempts[s])
						r.parked, r.cause = true, pt.lastErr[s]
					}
					r.result = res
				}
				refs = append(refs, r)
			}
			for s := range pl.cp {
				pl.cp[s] = max(pl.cp[s], pos)
			}
			pl.n++
			budget--
		}
		plans = append(plans, pl)
	}

	var names []string
	var parts []int
	var expected, next []int64
	for _, pl := range plans {
		for s, cp := range pl.cp {
			if cp != pl.pt.known[s] {
				names = append(names, c.names[s])
				parts = append(parts, pl.pt.p)
				expected = append(expected, pl.pt.known[s])
				next = append(next, cp)
			}
		}
	}
	pb := &built{b: b, plans: plans, refs: refs, single: l.singles > 0}
	if len(parts) > 0 {
		pb.advance = &stmt{sql: c.q.advance, args: []any{names, c.cfg.Area, parts, expected, next}, ev: -1}
	}
	return pb, nil
}

// failed sorts out a batch that did not commit: a checkpoint that moved
// (re-read, then retried), a database failure (retried after backoff), an
// event's statement (that event fails an attempt) or a failure at commit
// that names no event (one event per batch until the culprit is found).
func (l *loop) failed(err error, plans []planned, refs []ref) error {
	c := l.c
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == sqlstateMoved {
		nums := make([]int, len(plans))
		for i, pl := range plans {
			nums[i] = pl.pt.p
		}
		cps, rerr := c.readCheckpoints(l.ctx, nums)
		if rerr != nil {
			return rerr
		}
		for _, pl := range plans {
			for s, name := range c.names {
				pl.pt.setKnown(s, cps[cpKey{name, pl.pt.p}])
			}
		}
		c.log.Info("consumer: checkpoints moved under a batch (another consumer applied it); skipping what is done")
		return nil
	}
	if l.ctx.Err() != nil {
		return errStopping
	}
	if transient(err) {
		return err
	}
	i := FailedEvent(err)
	events := 0 // distinct events in the batch (refs of one event are adjacent)
	for k := range refs {
		if k == 0 || refs[k].pt != refs[k-1].pt || refs[k].it.ev.Position != refs[k-1].it.ev.Position {
			events++
		}
	}
	switch {
	case i >= 0 && refs[i].parked:
		return fmt.Errorf("park event %s: %w", refs[i].it.ev.ID, err)
	case i >= 0:
		l.fail(refs[i].pt, refs[i].sink, refs[i].it, err)
	case events == 1:
		// One event, and no statement of it to blame: every sink that
		// applied it counts a failure.
		for _, r := range refs {
			if !r.parked {
				l.fail(r.pt, r.sink, r.it, err)
			}
		}
	case events > 1:
		c.log.Warn("consumer: a batch failed at commit; applying its events one at a time", "events", events, "err", err)
		l.singles = events
	default:
		return err
	}
	return nil
}

// fail counts a failed attempt of it in sink s and reports whether it is
// to be parked now; otherwise its partition waits for the backoff.
func (l *loop) fail(pt *part, s int, it item, err error) (park bool) {
	c := l.c
	if pt.failPos != it.ev.Position {
		pt.resetFailure()
		pt.failPos = it.ev.Position
	}
	pt.attempts[s]++
	pt.lastErr[s] = err
	if pt.attempts[s] >= c.cfg.MaxAttempts {
		return true
	}
	pt.holdUntil = time.Now().Add(c.backoff(pt.attempts[s]))
	c.log.Warn("consumer: handler failed; retrying", "sink", c.names[s], "partition", pt.p, "event_id", it.ev.ID, "stream_id", it.ev.StreamID,
		"position", it.ev.Position, "attempt", pt.attempts[s], "err", err)
	return false
}

// committed records a committed batch: checkpoints, queues, counters, dead
// letters, then the AfterCommit hook.
func (l *loop) committed(plans []planned, refs []ref, single bool) {
	c := l.c
	if single && l.singles > 0 && len(refs) > 0 {
		l.singles--
	}
	var skipped int64
	for _, pl := range plans {
		for s, cp := range pl.cp {
			pl.pt.setKnown(s, cp)
		}
		pl.pt.queue = pl.pt.queue[pl.n:]
		skipped += int64(pl.skips)
		if pl.gapAt > 0 {
			l.gap(pl.pt, pl.gapAt)
		}
	}
	c.skipped.Add(skipped)
	var applied []Applied
	for _, r := range refs {
		if r.pt.failPos == r.it.ev.Position {
			r.pt.resetFailure()
		}
		if r.parked {
			c.deadLettered.Add(1)
			c.log.Error("consumer: event parked as dead letter", "sink", c.names[r.sink], "partition", r.pt.p,
				"event_id", r.it.ev.ID, "stream_id", r.it.ev.StreamID, "type", r.it.ev.Type, "position", r.it.ev.Position)
			l.publishDeadLetter(c.names[r.sink], r.pt.p, r.it, r.cause)
			continue
		}
		applied = append(applied, Applied{Event: r.it.ev, Partition: r.pt.p, Sink: c.names[r.sink], Result: r.result})
	}
	c.applied.Add(int64(len(applied)))
	if len(applied) > 0 && c.cfg.AfterCommit != nil && !c.crashed.Load() {
		c.cfg.AfterCommit(l.ctx, applied)
	}
}

// handle runs the handler, turning a panic into an error so that one bad
// event cannot take the process down.
func (c *Consumer) handle(ctx context.Context, h Handler, b *Batch, ev eventlog.Event) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	res, err = h.Apply(ctx, b, ev)
	if err != nil {
		err = fmt.Errorf("handle %s (%s v%d, position %d): %w", ev.ID, ev.StreamID, ev.Version, ev.Position, err)
	}
	return res, err
}

// deadLetterMaxLen bounds the dead-letter stream; the table keeps them all.
const deadLetterMaxLen = 10000

// publishDeadLetter adds a parked event and its error to the dead-letter
// stream, a few times at most: the committed table row is the record.
func (l *loop) publishDeadLetter(sink string, p int, it item, cause error) {
	c := l.c
	if cause == nil {
		cause = errors.New("unknown")
	}
	values := eventlog.EncodeEntry(it.ev, it.prev)
	values["error"] = cause.Error()
	values["attempts"] = strconv.Itoa(c.cfg.MaxAttempts)
	values["partition"] = strconv.Itoa(p)
	values["consumer"] = c.cfg.ConsumerID
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), 10*time.Second)
	defer cancel()
	var err error
	for try := 1; try <= 3; try++ {
		err = c.cfg.Redis.XAdd(ctx, &redis.XAddArgs{
			Stream: c.dlqKey(sink), MaxLen: deadLetterMaxLen, Approx: true, Values: values,
		}).Err()
		if err == nil {
			return
		}
		if !l.sleep(c.backoff(try)) {
			break
		}
	}
	c.log.Error("consumer: dead letter not published to its stream (kept in the table)", "event_id", it.ev.ID, "err", err)
}

// transient reports errors that say nothing about the event: the database
// is unreachable, shutting down or out of resources, or the transaction
// lost a conflict. They are retried without counting an attempt.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// A handler that depends on a service (a reaction appending to its
	// area's log) says so with UNAVAILABLE: the event is not at fault.
	if e := errcode.Of(err); e != nil && e.Code == errcode.Unavailable {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "57014" { // query_canceled: a statement timeout is the event's doing
			return false
		}
		if len(pgErr.Code) == 5 {
			switch pgErr.Code[:2] {
			case "08", "40", "53", "57", "58":
				return true
			}
		}
		return pgErr.Code == "55P03" // lock_not_available
	}
	if pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// A connection lost mid-batch surfaces as an unexpected EOF or a closed
	// connection without a PostgreSQL error code.
	var se *StatementError
	return errors.As(err, &se) && !errors.As(err, &pgErr) && isConnLoss(se.Err)
}

// isConnLoss reports a connection that broke under a statement.
func isConnLoss(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe")
}
