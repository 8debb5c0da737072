package readstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"crm/eventlog/testenv"
	"crm/graph/access"
	"crm/graph/readstore/readtest"
)

// A customer read with PlanEach, on a connection that ran the same lookup
// while read.customers held its first rows, uses the index once the table
// holds 100,000: the generic plan that connection keeps is a sequential
// scan (PostgreSQL chose it for the nearly empty table after five runs,
// and keeps it until the table is first analyzed).
func TestPlanEachReadsAGrownTableByItsIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := readtest.Schema(t)
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	s, err := New(Config{DB: conn, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	admin := access.WithScope(ctx, access.Everything())
	for i := range 8 {
		id := fmt.Sprint("first-", i)
		readtest.Exec(t, pool, schema, `INSERT INTO {{.schema}}.customers (id, name, registered) VALUES ($1, 'first', true)`, id)
		if got, err := s.CustomersByID(admin, []string{id}); err != nil || got[0] == nil {
			t.Fatalf("lookup %d: %v %v", i, got, err)
		}
	}
	readtest.Exec(t, pool, schema, `INSERT INTO {{.schema}}.customers (id, name, registered)
		SELECT 'c' || i, 'n' || i, true FROM generate_series(1, 100000) i`)

	// Sequential scans of read.customers by one lookup (the backend's
	// counts not yet reported, read before and after in its transaction).
	scans := func(plan func(context.Context) context.Context) int64 {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		count := func() (n int64) {
			if err := tx.QueryRow(ctx, `SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = $1::regclass`,
				pgx.Identifier{schema, "customers"}.Sanitize()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		in, err := New(Config{DB: tx, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		before := count()
		if got, err := in.CustomersByID(plan(admin), []string{"c5"}); err != nil || got[0] == nil || got[0].Name != "n5" {
			t.Fatalf("lookup of c5: %v %v", got, err)
		}
		return count() - before
	}
	if n := scans(PlanEach); n != 0 {
		t.Errorf("a lookup planned for its values scanned read.customers %d times", n)
	}
	// The case PlanEach is for: without it, the kept plan scans the table.
	if n := scans(func(c context.Context) context.Context { return c }); n == 0 {
		t.Errorf("the lookup on the connection's prepared statement did not scan read.customers: the test no longer shows a kept generic plan")
	}
}
