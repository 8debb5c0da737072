package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"crm/eventlog/consumer"
	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
	"crm/projector"
	"crm/services/kit"
)

// TestAreaConsumersMatchBudget opens every area and checks that the
// consumer count its service's consumer pool is sized by (areaDefs) is
// the number of consumers the area runs.
func TestAreaConsumersMatchBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	pool := testenv.Pool(t, testenv.Database(t))
	rdb, ns := testenv.Redis(t)
	sources := map[string]consumer.LogSource{}
	for _, a := range areas {
		sources[a] = &lazySource{}
	}
	for _, area := range areas {
		ar, err := areaDefs[area].open(context.Background(), kit.AreaConfig{Pool: pool, Redis: rdb, Namespace: ns, Sources: sources,
			ServiceKey: svcauth.Random()})
		if err != nil {
			t.Fatalf("%s: %v", area, err)
		}
		ar.Log.Close()
		if got, want := len(ar.Consumers), areaDefs[area].consumers; got != want {
			t.Errorf("%s runs %d consumers; areaDefs sizes its consumer pool for %d", area, got, want)
		}
	}
}

// TestProcessBudgets pins the budgets README.md's "Connections" table
// shows, and CRM_DB_MAX_CONNS's override.
func TestProcessBudgets(t *testing.T) {
	t.Parallel()
	shared := configFromEnv(envFunc())
	own := configFromEnv(envFunc("CRM_CUSTOMERS_DATABASE_URL=postgres://h/c", "CRM_APPOINTMENTS_DATABASE_URL=postgres://h/a",
		"CRM_RELATIONSHIPS_DATABASE_URL=postgres://h/r", "CRM_CAMPAIGNS_DATABASE_URL=postgres://h/m", "CRM_READ_DATABASE_URL=postgres://h/read"))
	capped := configFromEnv(envFunc("CRM_DB_MAX_CONNS=3"))
	for _, c := range []struct {
		name       string
		cfg        Config
		kind, area string
		want       int32
	}{
		{"service customers", own, "service", "customers", 5},
		{"service appointments", own, "service", "appointments", 7},
		{"service relationships", own, "service", "relationships", 7},
		{"service campaigns", own, "service", "campaigns", 6},
		{"projector", own, "projector", "", 4},
		{"gateway", own, "gateway", "", 8},
		{"verify, own databases", own, "verify", "", 10},
		{"verify, one database", shared, "verify", "", 3},
		{"dev, one database", shared, "dev", "", 37},
		{"dev, own databases", own, "dev", "", 37},
		{"service appointments, CRM_DB_MAX_CONNS=3", capped, "service", "appointments", 7},
		{"projector, CRM_DB_MAX_CONNS=3", capped, "projector", "", 3},
	} {
		if got := budgetTotal(processBudget(c.cfg, c.kind, c.area)); got != c.want {
			t.Errorf("%s: %d sessions, want %d (%v)", c.name, got, c.want, processBudget(c.cfg, c.kind, c.area))
		}
	}
}

// TestPoolsPlanForTheTableAsItIs: the gateway's lookup of a customer by id,
// run by a connection of its pool while read.customers held its first rows, still
// uses the index once the table holds 100,000. PostgreSQL would otherwise
// keep the generic plan it chose after five runs, a sequential scan that
// was cheapest for the nearly empty table, until autovacuum analyzes it: a
// read model filling up in its first minute was read whole for every
// mutation's answer.
func TestPoolsPlanForTheTableAsItIs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	pool, err := connectPool(ctx, testenv.Database(t), 2, gatewayPool)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := projector.Migrate(ctx, pool, readComponent, projector.All()...); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	const lookup = `SELECT * FROM read.customers WHERE registered AND id = ANY($1)`
	for i := range 8 {
		id := fmt.Sprint("first-", i)
		if _, err := pool.Exec(ctx, `INSERT INTO read.customers (id, name, registered) VALUES ($1, 'first', true)`, id); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, lookup, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if _, err := pool.Exec(ctx, `INSERT INTO read.customers (id, name, registered)
		SELECT 'c' || i, 'n' || i, true FROM generate_series(1, 100000) i`); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, `SELECT name FROM pg_prepared_statements WHERE statement = $1`, lookup).Scan(&name); err != nil {
		t.Fatalf("the lookup's prepared statement: %v", err)
	}
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE `+pgx.Identifier{name}.Sanitize()+`('{c5}')`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "Index") {
		t.Errorf("the lookup's plan on 100,000 rows reads no index:\n%s", text)
	}
}
