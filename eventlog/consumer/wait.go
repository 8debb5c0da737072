package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/pgmigrate"
)

// Waiter waits until a consumer has applied an area's log up to a
// position, for one partition: what a read-your-writes or consistency-token
// wait needs.
type Waiter struct {
	Pool   *pgxpool.Pool // the consumer's database
	Schema string        // where its checkpoints live
	Name   string        // the consumer's name
	Area   string        // the followed area
	// Redis and Namespace, when set, let a wait finish as soon as the
	// partition's stream holds nothing unapplied, without waiting for the
	// consumer to record a through mark.
	Redis     redis.UniversalClient
	Namespace string
}

// Wait returns nil once every event of the partition at or below position
// is applied (see Applied), and ctx's error when ctx ends first. It polls
// with a short backoff.
func (w Waiter) Wait(ctx context.Context, partition int, position int64) error {
	pause := time.Millisecond
	for {
		ok, err := w.Applied(ctx, partition, position)
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// Applied reports, checking once, whether every event of the partition at
// or below position is applied. It is when
//   - the partition's checkpoint or through mark reached position, or
//   - the relay had copied the log past position (relayed mark), and then
//     the partition's stream was not empty and its last entry was at or
//     below the checkpoint: every entry the relay had written by then is
//     applied, and the checkpoint only moves along an unbroken chain, so
//     entries trimmed or lost with Redis before it are applied too.
func (w Waiter) Applied(ctx context.Context, partition int, position int64) (bool, error) {
	if !pgmigrate.ValidIdent(w.Schema) {
		return false, fmt.Errorf("consumer: invalid schema %q", w.Schema)
	}
	var relayed, last int64 = 0, -1
	if w.Redis != nil {
		// Order matters: the relayed mark, then the stream, then the
		// checkpoint.
		relayed, _ = w.Redis.Get(ctx, eventlog.RelayedKey(w.Namespace, w.Area)).Int64()
		if relayed >= position {
			key := eventlog.StreamKey(w.Namespace, w.Area, partition)
			if msgs, err := w.Redis.XRevRangeN(ctx, key, "+", "-", 1).Result(); err == nil && len(msgs) == 1 {
				if pos, ok := entryPosition(msgs[0].ID); ok {
					last = pos
				}
			}
		}
	}
	var cp, through int64
	q := "SELECT position, through FROM " + w.Schema + ".consumer_checkpoints WHERE name = $1 AND area = $2 AND partition = $3"
	err := w.Pool.QueryRow(ctx, q, w.Name, w.Area, partition).Scan(&cp, &through)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("consumer %s/%s: wait for %d: %w", w.Name, w.Area, position, err)
	}
	return cp >= position || through >= position || (last >= 0 && last <= cp), nil
}

// relayed reads how far the area's relay has copied the log (0 when
// unknown: the key is missing after Redis lost its data).
func (w *partWorker) relayed() int64 {
	h, err := w.c.cfg.Redis.Get(w.ctx, eventlog.RelayedKey(w.c.cfg.Namespace, w.c.cfg.Area)).Int64()
	if err != nil {
		return 0
	}
	return h
}

// advanceThrough records that every event of the partition at or below h
// is applied. The caller has found the stream drained after reading h, and
// applied what it read; entries delivered but not acknowledged (to this or
// a previous owner) could still lie below h, so nothing is recorded while
// the group has any, and it reports that they are there.
func (w *partWorker) advanceThrough(h int64) (pendingLeft bool) {
	if h <= w.through {
		return false
	}
	p, err := w.c.cfg.Redis.XPending(w.ctx, w.key, w.c.group).Result()
	if err != nil {
		return false
	}
	if p.Count > 0 {
		return true
	}
	w.markThrough(h)
	return false
}

// reclaim takes over the entries another consumer of the group has left
// pending for a while, and reports whether it ran. They are there when a
// consumer read the partition's stream while it wrongly believed it held
// the lease (Redis lost the leases, so two processes took the partition at
// once) and then let go: nothing would deliver them again, and the
// partition would lag until a later entry showed the gap. It runs at most
// once per reclaimInterval; entries pending for less than reclaimIdle may
// still be in another consumer's hands and are left to it (the checkpoint
// lock makes taking them harmless, but pointless).
func (w *partWorker) reclaim() bool {
	if time.Since(w.reclaimed) < reclaimInterval {
		return false
	}
	w.reclaimed = time.Now()
	w.claim(reclaimIdle)
	return true
}

const (
	reclaimInterval = time.Second
	reclaimIdle     = 2 * time.Second
)

// markThrough stores the through mark (never lowering it).
func (w *partWorker) markThrough(h int64) {
	if h <= w.through {
		return
	}
	if _, err := w.c.cfg.Pool.Exec(w.ctx, w.c.q.through, w.c.cfg.Name, w.c.cfg.Area, w.p, h); err != nil {
		if !errors.Is(err, context.Canceled) {
			w.log.Warn("consumer: recording through mark", "position", h, "err", err)
		}
		return
	}
	w.through = h
}
