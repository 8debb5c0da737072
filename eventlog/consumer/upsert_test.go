package consumer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog/testenv"
)

// A batch's folded upserts leave the same rows as running each upsert
// alone, in order, in its own batch: whatever the mix of columns per call,
// repeated keys, insert-only columns, list and numeric columns; and the
// rows the statements return reach onRow once per key and statement.
func TestUpsertFoldEqualsOneByOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := testenv.Schema(t)
	for _, s := range []string{"folded", "single"} {
		if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s.%s (
			id text PRIMARY KEY, owner text, name text, note text, n bigint NOT NULL DEFAULT 0,
			at timestamptz, flag boolean NOT NULL DEFAULT false, tags text[] NOT NULL DEFAULT '{}',
			amount numeric, touched int NOT NULL DEFAULT 0)`, schema, s)); err != nil {
			t.Fatal(err)
		}
	}
	table := func(name string) Table {
		return Table{Name: schema + "." + name, Key: "id", InsertOnly: []string{"owner"},
			Casts: map[string]string{"amount": "numeric"}, Returning: "id, name"}
	}
	refresh := func(name string) string {
		return `UPDATE ` + schema + `.` + name + ` SET touched = touched + 1 WHERE id = ANY($1::text[]) RETURNING id, name`
	}
	rnd := rand.New(rand.NewPCG(7, 7))
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	type call struct {
		key  string
		cols []any
	}
	var calls []call
	for i := range 300 {
		var cols []any
		if rnd.IntN(2) == 0 {
			cols = append(cols, "owner", fmt.Sprintf("o%d", i))
		}
		if rnd.IntN(2) == 0 {
			cols = append(cols, "name", fmt.Sprintf("n%d", i))
		}
		if rnd.IntN(3) == 0 {
			var note *string
			if rnd.IntN(2) == 0 {
				s := fmt.Sprintf("note %d", i)
				note = &s
			}
			cols = append(cols, "note", note)
		}
		if rnd.IntN(2) == 0 {
			cols = append(cols, "n", int64(i))
		}
		if rnd.IntN(3) == 0 {
			cols = append(cols, "at", base.Add(time.Duration(i)*time.Second), "flag", i%2 == 0)
		}
		if rnd.IntN(3) == 0 {
			cols = append(cols, "tags", []string{"a", fmt.Sprint(i), `q"uote,{}`})
		}
		if rnd.IntN(3) == 0 {
			cols = append(cols, "amount", fmt.Sprintf("%d.50", i))
		}
		calls = append(calls, call{key: fmt.Sprintf("k%d", rnd.IntN(40)), cols: cols})
	}

	// Folded: every call in one batch (several events), sent at once.
	b := &Batch{}
	returned := map[string]int{}
	onRow := func(row pgx.Row) error {
		var id string
		var name *string
		if err := row.Scan(&id, &name); err != nil {
			return err
		}
		returned[id]++
		return nil
	}
	for i, c := range calls {
		b.ev = i
		b.Upsert(table("folded"), onRow, c.key, c.cols...)
		b.Refresh(refresh("folded"), c.key, onRow)
	}
	if err := b.Send(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// One by one, a batch each.
	for _, c := range calls {
		sb := &Batch{}
		sb.Upsert(table("single"), nil, c.key, c.cols...)
		if err := sb.Send(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]bool{}
	for _, c := range calls {
		keys[c.key] = true
	}
	for k, n := range returned {
		if !keys[k] || n != 2 { // the upsert's row and the refresh's
			t.Errorf("key %s returned %d times, want 2", k, n)
		}
	}
	if len(returned) != len(keys) {
		t.Errorf("%d keys returned, want %d", len(returned), len(keys))
	}
	dump := func(name string) []string {
		rows, err := pool.Query(ctx, `SELECT to_jsonb(t) - 'touched' FROM `+schema+`.`+name+` t ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if f, s := dump("folded"), dump("single"); !slices.Equal(f, s) {
		for i := range min(len(f), len(s)) {
			if f[i] != s[i] {
				t.Fatalf("folded %d rows, one by one %d; first difference:\n folded %s\n single %s", len(f), len(s), f[i], s[i])
			}
		}
		t.Fatalf("folded %d rows, one by one %d", len(f), len(s))
	}
	var touched []int
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT touched FROM `+schema+`.folded`)
		if err != nil {
			return err
		}
		touched, err = pgx.CollectRows(rows, pgx.RowTo[int])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(touched, []int{1}) {
		t.Errorf("refresh ran %v times per key, want once", touched)
	}
}

// An upsert statement holding rows of several events names no event when
// it fails (the consumer then applies events one by one to find the
// culprit); one holding a single event's rows names that event. Rows a
// truncated event folded in are gone.
func TestUpsertFailureBlameAndTruncate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := testenv.Schema(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE `+schema+`.t (id text PRIMARY KEY, n bigint CHECK (n >= 0))`); err != nil {
		t.Fatal(err)
	}
	tb := Table{Name: schema + ".t", Key: "id"}
	b := &Batch{}
	b.Upsert(tb, nil, "a", "n", int64(1))
	b.ev = 1
	b.Upsert(tb, nil, "b", "n", int64(-1)) // violates the check
	err := b.Send(ctx, pool)
	if got := FailedEvent(err); err == nil || got != -1 {
		t.Fatalf("two events' rows: FailedEvent = %d (%v), want -1", got, err)
	}

	b = &Batch{}
	b.Upsert(tb, nil, "a", "n", int64(1))
	b.ev = 1
	m := b.mark()
	b.Upsert(tb, nil, "a", "n", int64(-1))
	b.Upsert(tb, nil, "c", "n", int64(-1))
	b.truncate(m)
	b.ev = 2
	b.Upsert(tb, nil, "d", "n", int64(2))
	if err := b.Send(ctx, pool); err != nil {
		t.Fatalf("after truncate: %v", err)
	}
	var got []string
	rows, err := pool.Query(ctx, `SELECT id || '=' || n FROM `+schema+`.t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a=1", "d=2"}) {
		t.Errorf("rows %v, want [a=1 d=2]", got)
	}

	b = &Batch{}
	b.ev = 3
	b.Upsert(tb, nil, "e", "n", int64(-5))
	if got := FailedEvent(b.Send(ctx, pool)); got != 3 {
		t.Errorf("one event's rows: FailedEvent = %d, want 3", got)
	}
}
