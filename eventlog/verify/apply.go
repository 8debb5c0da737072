package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"crm/eventlog"
)

// applyPage applies evs in one transaction; when one fails, the page is
// redone with a savepoint per event, leaving out the failing ones.
func (v *verifier) applyPage(ctx context.Context, area string, evs []eventlog.Event) error {
	if len(evs) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, v.conn, func(tx pgx.Tx) error {
		for _, ev := range evs {
			if err := v.cfg.Apply(ctx, tx, area, ev); err != nil {
				return &applyFailure{ev: ev, err: err}
			}
		}
		return nil
	})
	var af *applyFailure
	if errors.As(err, &af) && ctx.Err() == nil && !lockFailure(af.err) {
		err = pgx.BeginFunc(ctx, v.conn, func(tx pgx.Tx) error { return v.applyGuarded(ctx, tx, area, evs) })
	}
	if err != nil {
		return err
	}
	v.res.Replayed += int64(len(evs))
	return nil
}

// applyGuarded applies each of evs under its own savepoint, leaving out
// (and recording in Failed) those whose Apply fails. A failing savepoint,
// a lost lock race, a closed connection or a cancelled ctx is an error.
func (v *verifier) applyGuarded(ctx context.Context, tx pgx.Tx, area string, evs []eventlog.Event) error {
	for _, ev := range evs {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if aerr := v.cfg.Apply(ctx, sp, area, ev); aerr != nil {
			if err := sp.Rollback(ctx); err != nil || ctx.Err() != nil || tx.Conn().IsClosed() || lockFailure(aerr) {
				return &applyFailure{ev: ev, err: aerr}
			}
			v.log.Warn("verify: an event the live consumer applied fails in the replay", "area", area,
				"position", ev.Position, "event_id", ev.ID, "stream_id", ev.StreamID, "err", aerr)
			v.res.Failed = append(v.res.Failed, fmt.Sprintf("%s/%d (%s): %v", area, ev.Position, ev.ID, aerr))
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	return nil
}

// applyNested applies evs inside tx under one savepoint; when one fails,
// it rolls back to the savepoint and applies them one savepoint each.
func (v *verifier) applyNested(ctx context.Context, tx pgx.Tx, area string, evs []eventlog.Event) error {
	if len(evs) == 0 {
		return nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	for _, ev := range evs {
		if err = v.cfg.Apply(ctx, sp, area, ev); err != nil {
			break
		}
	}
	if err == nil {
		return sp.Commit(ctx)
	}
	if rerr := sp.Rollback(ctx); rerr != nil || ctx.Err() != nil || lockFailure(err) {
		return errors.Join(err, rerr)
	}
	return v.applyGuarded(ctx, tx, area, evs)
}

// applyFailure is an Apply error of one event.
type applyFailure struct {
	ev  eventlog.Event
	err error
}

func (e *applyFailure) Error() string {
	return fmt.Sprintf("apply %s (position %d): %v", e.ev.ID, e.ev.Position, e.err)
}

func (e *applyFailure) Unwrap() error { return e.err }

// lockFailure reports deadlocks, serialization failures and lock timeouts:
// they say nothing about the event.
func lockFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01" || pgErr.Code == "55P03")
}
