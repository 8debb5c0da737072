package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/pgmigrate"
)

// WaitApplied waits until consumer name has applied area's log up to
// position for one partition: the partition's checkpoint reached position,
// or its "through" mark did (the consumer found its stream drained after
// the relay had copied position). It polls the checkpoint row with a short
// backoff and returns ctx's error when ctx ends first.
func WaitApplied(ctx context.Context, pool *pgxpool.Pool, schema, name, area string, partition int, position int64) error {
	if !pgmigrate.ValidIdent(schema) {
		return fmt.Errorf("consumer: invalid schema %q", schema)
	}
	q := "SELECT greatest(position, through) FROM " + schema + ".consumer_checkpoints WHERE name = $1 AND area = $2 AND partition = $3"
	wait := time.Millisecond
	for {
		var got int64
		err := pool.QueryRow(ctx, q, name, area, partition).Scan(&got)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("consumer %s/%s: wait for %d: %w", name, area, position, err)
		}
		if got >= position {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
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
// the group has any.
func (w *partWorker) advanceThrough(h int64) {
	if h <= w.through {
		return
	}
	if p, err := w.c.cfg.Redis.XPending(w.ctx, w.key, w.c.group).Result(); err != nil || p.Count > 0 {
		return
	}
	w.markThrough(h)
}

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
