package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"crm/eventlog"
)

// Replay applies evs with h inside tx outside a consumer: the replay of a
// rebuild, a verification or a replica's catch-up, where a failing event is
// left out rather than retried and parked. It applies them as one batch
// (ApplyEvents) under a savepoint; when the batch fails, it rolls back to
// the savepoint and applies them again one at a time, each under a
// savepoint of its own, leaving out each event that fails and handing it
// with its error to skip (which may be nil). Every other event is applied
// once, in order, and tx stays usable.
//
// A failure that says nothing about the events is an error and leaves
// nothing out: ctx done, the connection lost or closed, a savepoint that
// cannot be taken or rolled back, a lost lock race (deadlock,
// serialization failure, lock timeout) or the database unavailable. After
// an error tx is in an unknown state; roll it back.
func Replay(ctx context.Context, tx pgx.Tx, h Handler, evs []eventlog.Event, skip func(eventlog.Event, error)) error {
	if len(evs) == 0 {
		return nil
	}
	// A replay writes tables that grow from empty without statistics (a
	// rebuild's or verify's scratch tables): a generic plan cached while
	// they were small (a sequential scan joined per key) would make each
	// page slower than the last, so plan each statement for the tables as
	// they are. And no JIT: a page's statements (a thousand keys) pass its
	// cost threshold, and compiling them took a tenth of PostgreSQL's CPU
	// in a rebuild, for statements that run once. The settings end with tx.
	if _, err := tx.Exec(ctx, "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('jit', 'off', true)"); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	err := applyUnder(ctx, tx, h, evs)
	if err == nil {
		return nil
	}
	if errorOfReplay(ctx, tx, err) {
		return fmt.Errorf("apply %d events up to position %d: %w", len(evs), evs[len(evs)-1].Position, err)
	}
	for _, ev := range evs {
		if err := applyUnder(ctx, tx, h, []eventlog.Event{ev}); err != nil {
			if errorOfReplay(ctx, tx, err) {
				return fmt.Errorf("apply %s (position %d): %w", ev.ID, ev.Position, err)
			}
			if skip != nil {
				skip(ev, err)
			}
		}
	}
	return nil
}

// applyUnder applies evs as one batch under a savepoint of tx, rolled back
// when they fail. A savepoint that cannot be taken or rolled back is a
// *savepointError.
func applyUnder(ctx context.Context, tx pgx.Tx, h Handler, evs []eventlog.Event) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return &savepointError{err}
	}
	if _, err := ApplyEvents(ctx, sp, h, evs); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return &savepointError{fmt.Errorf("%w (rolling back after: %v)", rerr, err)}
		}
		return err
	}
	if err := sp.Commit(ctx); err != nil {
		return &savepointError{err}
	}
	return nil
}

// savepointError is a savepoint that could not be taken, released or
// rolled back: the transaction is lost.
type savepointError struct{ err error }

func (e *savepointError) Error() string { return "savepoint: " + e.err.Error() }
func (e *savepointError) Unwrap() error { return e.err }

// errorOfReplay reports whether a failure to apply events is an error of
// the replay rather than of an event: see Replay.
func errorOfReplay(ctx context.Context, tx pgx.Tx, err error) bool {
	var se *savepointError
	if errors.As(err, &se) {
		return true
	}
	return ctx.Err() != nil || tx.Conn().IsClosed() || transient(err)
}
