package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

// replayHandler writes each event's position into <schema>.applied (by a
// statement of its own) and into <schema>.rows (one Rows statement for the
// batch); the event type says how it fails instead.
func replayHandler(schema string) Handler {
	return HandlerFunc(func(_ context.Context, b *Batch, ev eventlog.Event) (any, error) {
		pos := ev.Position
		switch ev.Type {
		case "BadApply": // Apply refuses it: nothing queued
			return nil, errors.New("bad data")
		case "BadStatement": // its own statement fails (CHECK pos > 0)
			pos = -pos
		case "BadRow": // its row fails the statement shared with the batch's other events
			b.Exec(`INSERT INTO `+schema+`.applied (pos) VALUES ($1)`, pos)
			b.Rows(`INSERT INTO `+schema+`.rows SELECT * FROM unnest($1::bigint[])`, -pos)
			return nil, nil
		case "Deadlock":
			b.Exec(`DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$`)
		}
		b.Exec(`INSERT INTO `+schema+`.applied (pos) VALUES ($1)`, pos)
		b.Rows(`INSERT INTO `+schema+`.rows SELECT * FROM unnest($1::bigint[])`, pos)
		return nil, nil
	})
}

// replayEvents makes events of the given types at positions from, from+1...
func replayEvents(from int64, types ...string) []eventlog.Event {
	evs := make([]eventlog.Event, len(types))
	for i, typ := range types {
		pos := from + int64(i)
		evs[i] = eventlog.Event{ID: fmt.Sprintf("evt_%d", pos), StreamID: "s", Version: pos, Position: pos, Type: typ}
	}
	return evs
}

func TestReplayLeavesOutFailingEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := testenv.Schema(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE `+schema+`.applied (pos bigint PRIMARY KEY CHECK (pos > 0));
		CREATE TABLE `+schema+`.rows (pos bigint PRIMARY KEY CHECK (pos > 0))`); err != nil {
		t.Fatal(err)
	}
	positions := func(table string) []int64 {
		rows, err := pool.Query(ctx, `SELECT pos FROM `+schema+`.`+table+` ORDER BY pos`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	h := replayHandler(schema)

	// An Apply error, a failing statement of one event and a failing row of
	// a statement every event shares (which names no event): each is left
	// out, every other event is applied once, and the transaction goes on.
	var skipped []int64
	evs := replayEvents(1, "Ok", "Ok", "BadApply", "Ok", "BadStatement", "Ok", "BadRow", "Ok")
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := Replay(ctx, tx, h, evs, func(ev eventlog.Event, err error) {
			if err == nil {
				t.Errorf("skip of %d without an error", ev.Position)
			}
			skipped = append(skipped, ev.Position)
		}); err != nil {
			return err
		}
		return Replay(ctx, tx, h, replayEvents(9, "Ok"), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if want := []int64{3, 5, 7}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %v, want %v", skipped, want)
	}
	if got, want := positions("applied"), []int64{1, 2, 4, 6, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	if got, want := positions("rows"), []int64{1, 2, 4, 6, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}

	// A lost lock race says nothing about the event: an error, nothing
	// left out. So is a cancelled context.
	for _, c := range []struct {
		name string
		ctx  func() context.Context
		evs  []eventlog.Event
		code string
	}{
		{"deadlock", context.Background, replayEvents(10, "Ok", "Deadlock"), "40P01"},
		{"cancelled", func() context.Context { c, cancel := context.WithCancel(ctx); cancel(); return c }, replayEvents(12, "BadApply"), ""},
	} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = Replay(c.ctx(), tx, h, c.evs, func(ev eventlog.Event, err error) {
			t.Errorf("%s: left out %d: %v", c.name, ev.Position, err)
		})
		_ = tx.Rollback(ctx)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			t.Errorf("%s: no error", c.name)
		case c.code != "" && (!errors.As(err, &pgErr) || pgErr.Code != c.code):
			t.Errorf("%s: error %v, want SQLSTATE %s", c.name, err, c.code)
		}
	}
}
