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
