package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
)

// batchTimeout bounds finishing a batch once started (XADDs and recording
// progress), also after ctx ended: a stop finishes the batch in hand.
const batchTimeout = 10 * time.Second

// activeLoop relays while this relay holds the lock. It returns nil when ctx
// ends (after recording progress), errLockLost when the lock's connection
// broke, errCrash from the test hook, or an error loading the progress.
func (r *Relay) activeLoop(ctx context.Context, ls *lockSession) error {
	// LISTEN before the first read, so no commit falls between the two.
	if err := ls.listen(ctx, eventlog.NotifyChannel(r.cfg.Schema)); err != nil {
		return err
	}
	st, err := r.loadProgress(ctx)
	if err != nil {
		return err
	}
	r.position.Store(st.position)
	r.lockPID.Store(ls.pid())
	r.active.Store(true)
	r.log.Info("relay active", "position", st.position)
	rd := &reader{src: r.cfg.Source, limit: r.cfg.BatchSize}
	defer rd.discard()
	bo := newBackoff(r.cfg.PollInterval)
	for {
		if ctx.Err() != nil {
			r.flush(ctx, &st)
			return nil
		}
		if ls.conn.IsClosed() {
			return errLockLost
		}
		n, err := r.step(ctx, rd, &st)
		if errors.Is(err, errCrash) {
			return err
		}
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			r.fail("relay batch", err)
			sleep(ctx, bo.next()) // a stop is seen at the top of the loop
			continue
		}
		bo.reset()
		if n == r.cfg.BatchSize {
			continue // more is probably waiting
		}
		if n == 0 {
			// Idle: keep the mark present, also after Redis restarted
			// empty (it costs one SET per wake-up), and record progress.
			if err := r.markRelayed(ctx, st.position); err != nil && ctx.Err() == nil {
				r.fail("mark relayed position", err)
			}
			if st.dirty {
				if err := r.saveProgress(ctx, &st); err != nil && ctx.Err() == nil {
					r.fail("record progress", err)
				}
			}
		}
		poll := r.cfg.SafetyPoll
		if st.dirty { // look again when the record is due, to make it
			poll = max(progressEvery-time.Since(st.savedAt), time.Millisecond)
		}
		if err := ls.wait(ctx, poll, st.position); err != nil {
			return err
		}
	}
}

// flush records progress copied into Redis but not recorded yet (its
// recording failed earlier), when stopping.
func (r *Relay) flush(ctx context.Context, st *progress) {
	if !st.dirty {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	if err := r.saveProgress(fctx, st); err != nil {
		r.errs.Add(1)
		r.log.Warn("relay: recording progress at stop failed; a restart re-sends from the last record", "position", st.position, "err", err)
	}
}

// step relays one batch: read after st.position, XADD it in one pipeline,
// then record the progress. It returns how many events it copied.
func (r *Relay) step(ctx context.Context, rd *reader, st *progress) (int, error) {
	evs, err := rd.read(ctx, st.position)
	if err != nil {
		return 0, fmt.Errorf("read log after %d: %w", st.position, err)
	}
	evs, gapErr := contiguous(evs, st.position)
	if len(evs) == 0 {
		return 0, gapErr
	}
	if len(evs) == r.cfg.BatchSize {
		rd.prefetch(ctx, evs[len(evs)-1].Position) // more is probably waiting
	}
	// The batch in hand is finished even when ctx ends meanwhile.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	last, err := r.xadd(bctx, evs, st.last)
	if err != nil {
		return 0, err
	}
	// Only after every XADD was confirmed: readers of the mark take it as
	// "every entry up to here is in its stream".
	if err := r.markRelayed(bctx, evs[len(evs)-1].Position); err != nil {
		return 0, err
	}
	st.position, st.last, st.dirty = evs[len(evs)-1].Position, last, true
	r.position.Store(st.position)
	r.relayed.Add(uint64(len(evs)))
	if r.afterXADD != nil && r.afterXADD() {
		return len(evs), errCrash
	}
	// Recorded at most every progressEvery while busy (and as soon as the
	// relay is idle); a failed record is retried later or at stop. Until
	// then a crash only means re-sends.
	if time.Since(st.savedAt) >= progressEvery {
		if err := r.saveProgress(bctx, st); err != nil {
			return len(evs), err
		}
	}
	return len(evs), gapErr
}

// reader reads the log one batch ahead: while a full batch goes to Redis
// the next one is read, so that catching up on a backlog overlaps the
// PostgreSQL and Redis round trips instead of adding them.
type reader struct {
	src   Source
	limit int
	ahead chan readResult // the read in flight, nil when none
	after int64           // the position the read in flight reads after
}

type readResult struct {
	evs []eventlog.Event
	err error
}

// read returns the batch after position after: the one read ahead when it
// starts there and succeeded, else a fresh read.
func (rd *reader) read(ctx context.Context, after int64) ([]eventlog.Event, error) {
	if rd.ahead != nil {
		res, from := <-rd.ahead, rd.after
		rd.ahead = nil
		if from == after && res.err == nil {
			return res.evs, nil
		}
		// The batch before it failed (or so did this read): read again.
	}
	return rd.src.ReadLog(ctx, after, rd.limit)
}

// prefetch starts reading the batch after position after.
func (rd *reader) prefetch(ctx context.Context, after int64) {
	rd.discard()
	ch := make(chan readResult, 1)
	rd.ahead, rd.after = ch, after
	go func() {
		evs, err := rd.src.ReadLog(ctx, after, rd.limit)
		ch <- readResult{evs, err}
	}()
}

// discard waits for the read in flight, if any, and drops it.
func (rd *reader) discard() {
	if rd.ahead != nil {
		<-rd.ahead
		rd.ahead = nil
	}
}

// contiguous keeps the events that follow after without a gap. The log
// promises contiguous positions; should one be missing anyway, relaying
// past it could lose it for good, so the relay stops there and retries.
func contiguous(evs []eventlog.Event, after int64) ([]eventlog.Event, error) {
	for i := range evs {
		if evs[i].Position != after+int64(i)+1 {
			return evs[:i], fmt.Errorf("log has position %d where %d was expected; waiting", evs[i].Position, after+int64(i)+1)
		}
	}
	return evs, nil
}

// xadd sends evs to their partition streams in one pipeline and returns the
// new last position per partition. Entries Redis already has are refused
// by their explicit id and count as delivered.
func (r *Relay) xadd(ctx context.Context, evs []eventlog.Event, last []int64) ([]int64, error) {
	next := slices.Clone(last)
	pipe := r.cfg.Redis.Pipeline()
	cmds := make([]*redis.StringCmd, len(evs))
	for i := range evs {
		ev := &evs[i]
		p := eventlog.Partition(ev.StreamID, r.cfg.Partitions)
		args := &redis.XAddArgs{
			Stream: r.keys[p],
			ID:     eventlog.EntryID(ev.Position),
			Values: eventlog.EncodeEntry(*ev, next[p]),
		}
		if r.cfg.MaxLen > 0 {
			args.MaxLen, args.Approx = r.cfg.MaxLen, true
		}
		cmds[i] = pipe.XAdd(ctx, args)
		next[p] = ev.Position
	}
	_, execErr := pipe.Exec(ctx)
	var resent uint64
	var firstErr error
	failed := map[int]int64{} // partition -> first position that failed
	for i, c := range cmds {
		p := eventlog.Partition(evs[i].StreamID, r.cfg.Partitions)
		switch err := c.Err(); {
		case err == nil:
			if f, ok := failed[p]; ok {
				r.holeAfterFailure(p, f, evs[i].Position)
				delete(failed, p)
			}
		case alreadyThere(err):
			resent++
		default:
			if _, ok := failed[p]; !ok {
				failed[p] = evs[i].Position
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("xadd position %d to %s: %w", evs[i].Position, r.keys[p], err)
			}
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if execErr != nil && !alreadyThere(execErr) {
		return nil, fmt.Errorf("xadd pipeline: %w", execErr)
	}
	r.resent.Add(resent)
	return next, nil
}

// holeAfterFailure reports an entry that failed while a later one of the
// same partition succeeded in the same pipeline. Redis cannot take the
// failed one any more (its id is below the stream's top), so the retry will
// see it refused. A broken connection cannot cause this (what Redis ran is
// a prefix of the pipeline); a per-command error such as OOM can. The
// entry after the hole still names it as prev, so consumers notice and
// catch up from the service's log; this log line tells operators why.
func (r *Relay) holeAfterFailure(partition int, failed, later int64) {
	r.log.Error("relay: an entry failed while a later one of its partition succeeded; consumers will catch up from the log",
		"partition", partition, "failed_position", failed, "later_position", later)
}

// markRelayed sets eventlog.RelayedKey to pos, the last position whose
// entries are all in their streams. Consumers read it to tell a drained
// partition from one the relay has not reached yet.
func (r *Relay) markRelayed(ctx context.Context, pos int64) error {
	if pos == 0 {
		return nil
	}
	if err := r.cfg.Redis.Set(ctx, r.relayedKey, pos, 0).Err(); err != nil {
		return fmt.Errorf("set %s to %d: %w", r.relayedKey, pos, err)
	}
	return nil
}

// alreadyThere tells Redis's refusal of an explicit id at or below the
// stream's top: the entry was delivered before (a re-send after a crash or
// a failed batch).
func alreadyThere(err error) bool {
	return err != nil && strings.Contains(err.Error(), "equal or smaller than the target stream top item")
}
