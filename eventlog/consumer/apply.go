package consumer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/errcode"
)

// txResult is what one apply transaction did.
type txResult struct {
	consumed int              // items handled (applied or skipped) from the front
	applied  []eventlog.Event // events the handler applied
	gapAt    int64            // position of the item stopped at for a gap, or -1
	cp       int64            // checkpoint after the transaction
	parked   bool             // parkTx: the dead letter was written
	// failedAt is the index of the item whose handler failed, -1 if the
	// failure (if any) was not the handler's.
	failedAt int
	// commitFailed: COMMIT failed (e.g. a deferred constraint of the
	// handler's writes), so the failure belongs to the batch.
	commitFailed bool
	connLost     bool
}

// applyTx applies items in one transaction under the partition's locked
// checkpoint row: items at or below the checkpoint are skipped, and the
// first item with entries missing before it ends the batch (gapAt).
func (c *Consumer) applyTx(ctx context.Context, p int, items []item) (res txResult, err error) {
	res.failedAt, res.gapAt = -1, -1
	tx, err := c.cfg.Pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	cp, err := c.lockCheckpoint(ctx, tx, p)
	if err != nil {
		return res, err
	}
	start := cp
	for i, it := range items {
		if it.ev.Position <= cp {
			res.consumed++
			continue
		}
		if it.missing || it.prev > cp {
			res.gapAt = it.ev.Position
			break
		}
		if err := c.handle(ctx, tx, it.ev); err != nil {
			res.failedAt, res.connLost = i, tx.Conn().IsClosed()
			return res, fmt.Errorf("handle %s (%s v%d, position %d): %w", it.ev.ID, it.ev.StreamID, it.ev.Version, it.ev.Position, err)
		}
		cp = it.ev.Position
		res.applied = append(res.applied, it.ev)
		res.consumed++
	}
	if cp != start {
		if _, err := tx.Exec(ctx, c.q.update, c.cfg.Name, c.cfg.Area, p, cp); err != nil {
			return res, fmt.Errorf("update checkpoint %d: %w", p, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		res.commitFailed = true
		return res, fmt.Errorf("commit: %w", err)
	}
	res.cp = cp
	return res, nil
}

// handle runs the handler, turning a panic into an error so that one bad
// event cannot take the process down.
func (c *Consumer) handle(ctx context.Context, tx pgx.Tx, ev eventlog.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return c.cfg.Handler.Handle(ctx, tx, ev)
}

// applyItems applies items in order, in transactions of up to BatchSize.
// When a batch fails, the healthy prefix is committed and the culprit is
// retried alone with backoff, then parked after MaxAttempts failures.
// Database outages are retried without counting attempts. It returns the
// position where entries are missing (-1 if none), or errStopping when the
// partition stopped before finishing; what was not committed is left for
// redelivery.
func (w *partWorker) applyItems(items []item) (gapAt int64, err error) {
	c := w.c
	k := 0
	for k < len(items) && items[k].ev.Position <= w.known {
		k++
	}
	if k > 0 {
		c.skipped.Add(int64(k))
		w.ack(items[:k])
		items = items[k:]
	}
	limit := len(items)
	var attempts, infraFails int
	carry := false                // the culprit after the prefix being committed failed once
	var singlesThrough int64 = -1 // one event per tx up to here: a batch failed at COMMIT
	fullLimit := func() int {
		if len(items) > 0 && items[0].ev.Position <= singlesThrough {
			return 1
		}
		return len(items)
	}
	for len(items) > 0 {
		if (attempts > 0 || infraFails > 0) && w.stopping() {
			return -1, errStopping
		}
		n := min(limit, len(items), c.cfg.BatchSize)
		res, err := c.applyTx(w.ctx, w.p, items[:n])
		if err == nil {
			w.committed(items[:res.consumed], res)
			items = items[res.consumed:]
			if res.gapAt >= 0 {
				return res.gapAt, nil
			}
			attempts, infraFails, limit = 0, 0, fullLimit()
			if carry {
				carry, attempts, limit = false, 1, 1
				if !w.sleep(c.backoff(1)) {
					return -1, errStopping
				}
			}
			continue
		}
		if w.ctx.Err() != nil {
			return -1, errStopping
		}
		if (res.failedAt < 0 && !res.commitFailed) || res.connLost || transient(err) {
			infraFails++
			w.log.Warn("consumer: database failure; retrying", "err", err, "retry", infraFails)
			if !w.sleep(c.backoff(infraFails)) {
				return -1, errStopping
			}
			continue
		}
		if res.failedAt > 0 {
			bad := items[res.failedAt].ev
			w.log.Warn("consumer: handler failed in a batch; committing the events before it, then retrying it alone",
				"event_id", bad.ID, "stream_id", bad.StreamID, "position", bad.Position, "attempt", 1, "err", err)
			limit, carry = res.failedAt, true
			continue
		}
		if res.failedAt < 0 && n > 1 {
			// A commit failure of a batch: one event per tx finds the culprit.
			singlesThrough, limit = items[n-1].ev.Position, 1
			continue
		}
		attempts++
		it := items[0]
		if attempts >= c.cfg.MaxAttempts {
			gapAt, err := w.park(it, err, attempts)
			if err != nil || gapAt >= 0 {
				return gapAt, err
			}
			items = items[1:]
			attempts, limit = 0, fullLimit()
			continue
		}
		w.log.Warn("consumer: handler failed; retrying", "event_id", it.ev.ID, "stream_id", it.ev.StreamID,
			"position", it.ev.Position, "attempt", attempts, "err", err)
		limit = 1
		if !w.sleep(c.backoff(attempts)) {
			return -1, errStopping
		}
	}
	return -1, nil
}

// committed records a committed transaction: counters, checkpoint, the
// AfterCommit hook, then the acknowledgement.
func (w *partWorker) committed(items []item, res txResult) {
	c := w.c
	w.setCheckpoint(res.cp)
	c.applied.Add(int64(len(res.applied)))
	c.skipped.Add(int64(res.consumed - len(res.applied)))
	if len(res.applied) > 0 && c.cfg.AfterCommit != nil && !c.crashed.Load() {
		c.cfg.AfterCommit(w.ctx, res.applied)
	}
	w.ack(items)
}

// park writes the dead letter and moves the checkpoint past it in one
// transaction (retried until it commits or the partition stops), then
// publishes it on the dead-letter stream.
func (w *partWorker) park(it item, cause error, attempts int) (gapAt int64, err error) {
	c := w.c
	for fails := 1; ; fails++ {
		res, err := c.parkTx(w.ctx, w.p, it, cause, attempts)
		if err == nil {
			if res.gapAt >= 0 {
				return res.gapAt, nil
			}
			w.setCheckpoint(res.cp)
			if res.parked {
				c.deadLettered.Add(1)
				w.log.Error("consumer: event parked as dead letter", "event_id", it.ev.ID, "stream_id", it.ev.StreamID,
					"type", it.ev.Type, "position", it.ev.Position, "attempts", attempts, "err", cause)
				w.publishDeadLetter(it, cause, attempts)
			} else {
				c.skipped.Add(1)
			}
			w.ack([]item{it})
			return -1, nil
		}
		if w.ctx.Err() != nil {
			return -1, errStopping
		}
		w.log.Error("consumer: cannot park dead letter; retrying", "event_id", it.ev.ID, "err", err, "retry", fails)
		if !w.sleep(c.backoff(fails)) {
			return -1, errStopping
		}
	}
}

func (c *Consumer) parkTx(ctx context.Context, p int, it item, cause error, attempts int) (res txResult, err error) {
	res.failedAt, res.gapAt = -1, -1
	tx, err := c.cfg.Pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	cp, err := c.lockCheckpoint(ctx, tx, p)
	if err != nil {
		return res, err
	}
	res.cp = cp
	if it.ev.Position <= cp {
		return res, nil // someone else got past it meanwhile
	}
	if it.prev > cp {
		res.gapAt = it.ev.Position
		return res, nil
	}
	if err := c.insertDeadLetter(ctx, tx, p, it.ev, cause, attempts); err != nil {
		return res, err
	}
	if _, err := tx.Exec(ctx, c.q.update, c.cfg.Name, c.cfg.Area, p, it.ev.Position); err != nil {
		return res, fmt.Errorf("update checkpoint %d: %w", p, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.cp, res.parked = it.ev.Position, true
	return res, nil
}

// deadLetterMaxLen bounds the dead-letter stream; the table keeps them all.
const deadLetterMaxLen = 10000

// publishDeadLetter adds a parked event and its error to the dead-letter
// stream, a few times at most: the committed table row is the record.
func (w *partWorker) publishDeadLetter(it item, cause error, attempts int) {
	c := w.c
	values := eventlog.EncodeEntry(it.ev, it.prev)
	values["error"] = cause.Error()
	values["attempts"] = strconv.Itoa(attempts)
	values["partition"] = strconv.Itoa(w.p)
	values["consumer"] = c.cfg.ConsumerID
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 10*time.Second)
	defer cancel()
	var err error
	for try := 1; try <= 3; try++ {
		err = c.cfg.Redis.XAdd(ctx, &redis.XAddArgs{
			Stream: c.dlqKey, MaxLen: deadLetterMaxLen, Approx: true, Values: values,
		}).Err()
		if err == nil {
			return
		}
		if !w.sleep(c.backoff(try)) {
			break
		}
	}
	w.log.Error("consumer: dead letter not published to its stream (kept in the table)", "event_id", it.ev.ID, "err", err)
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
	return errors.As(err, &netErr)
}
