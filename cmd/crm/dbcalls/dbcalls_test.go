package dbcalls_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"crm/cmd/crm/dbcalls"
	"crm/eventlog/testenv"
)

// counts gathers c's series as "name{label=value,...}" → value (labels in
// the registry's order: sorted by name).
func counts(t *testing.T, c *dbcalls.Counters) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + "=" + l.GetValue()
			}
			out[key+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// delta is after - before for every series that changed.
func delta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func equal(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v, want %v (all: %v)", what, k, got[k], v, got)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s = %v", what, k, v)
		}
	}
}

func TestTracerCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, schema := testenv.Schema(t)
	cfg, err := pgxpool.ParseConfig(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	c := dbcalls.New()
	cfg.ConnConfig.Tracer = c.Tracer("db1", cfg.ConnConfig.Tracer)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)"); err != nil {
		t.Fatal(err)
	}
	step := func(name string, want map[string]float64, do func() error) {
		t.Helper()
		before := counts(t, c)
		if err := do(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		equal(t, name, delta(before, counts(t, c)), want)
	}

	step("a query", map[string]float64{
		"crm_db_statements_total{database=db1,kind=select}": 1,
		"crm_db_round_trips_total{database=db1}":            1,
	}, func() error {
		var n int
		return pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
	})
	step("a batch of 3", map[string]float64{
		"crm_db_statements_total{database=db1,kind=insert}": 2,
		"crm_db_statements_total{database=db1,kind=with}":   1,
		"crm_db_batches_total{database=db1}":                1,
		"crm_db_round_trips_total{database=db1}":            1,
	}, func() error {
		b := &pgx.Batch{}
		b.Queue("INSERT INTO t (id) VALUES (1)")
		b.Queue("/* second */ insert into t (id) values (2)")
		b.Queue("WITH x AS (SELECT 1) SELECT count(*) FROM t")
		return pool.SendBatch(ctx, b).Close()
	})
	step("a CopyFrom", map[string]float64{
		"crm_db_statements_total{database=db1,kind=copy}": 1,
		"crm_db_round_trips_total{database=db1}":          1,
	}, func() error {
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"id"}, pgx.CopyFromRows([][]any{{10}, {11}, {12}}))
		return err
	})
	step("a transaction", map[string]float64{
		"crm_db_statements_total{database=db1,kind=begin}":  1,
		"crm_db_statements_total{database=db1,kind=update}": 1,
		"crm_db_statements_total{database=db1,kind=commit}": 1,
		"crm_db_round_trips_total{database=db1}":            3,
	}, func() error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "UPDATE t SET n = n + 1"); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

func TestTracerComposes(t *testing.T) {
	t.Parallel()
	inner := dbcalls.New()
	outer := dbcalls.New()
	cfg, err := pgxpool.ParseConfig(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = outer.Tracer("db", inner.Tracer("db", nil))
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*dbcalls.Counters{"inner": inner, "outer": outer} {
		if got := counts(t, c)["crm_db_statements_total{database=db,kind=select}"]; got != 1 {
			t.Errorf("%s tracer: %v selects, want 1", name, got)
		}
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	for sql, want := range map[string]string{
		"SELECT 1":                           "select",
		"  \n\tselect 1":                     "select",
		"(SELECT 1) UNION (SELECT 2)":        "select",
		"-- why\nINSERT INTO t VALUES (1)":   "insert",
		"/* a */ /* b */ Update t SET n=1":   "update",
		"begin isolation level serializable": "begin",
		"commit":                             "commit",
		"SAVEPOINT s":                        "savepoint",
		"selection":                          "other",
		"SELECT_1":                           "other",
		"LISTEN x":                           "other",
		"-- only a comment":                  "other",
		"":                                   "other",
	} {
		if got := dbcalls.Kind(sql); got != want {
			t.Errorf("Kind(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestRedisHookCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, ns := testenv.Redis(t) // deletes ns:* at cleanup
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	opt.PoolSize = 1
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	c := dbcalls.New()
	rdb.AddHook(c.RedisHook())
	// A connection's handshake (HELLO, CLIENT ...) counts too, as commands
	// like any other; go-redis v9.23 runs it on the first command and once
	// more around the connection's first pipeline. Get past both before
	// counting.
	k := ns + ":k"
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := counts(t, c)
	if err := rdb.Set(ctx, k, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(ctx, k).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, k)
		p.Incr(ctx, k)
		p.Expire(ctx, k, 60e9)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, k, "2", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	equal(t, "commands", delta(before, counts(t, c)), map[string]float64{
		"crm_redis_commands_total{cmd=set}":    2,
		"crm_redis_commands_total{cmd=get}":    1,
		"crm_redis_commands_total{cmd=incr}":   2,
		"crm_redis_commands_total{cmd=expire}": 1,
		"crm_redis_commands_total{cmd=multi}":  1,
		"crm_redis_commands_total{cmd=exec}":   1,
		"crm_redis_round_trips_total{}":        4,
	})
}

func TestTracePoolCountsPings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	// Ping every second acquisition (pgxpool's own rule, idle over a
	// second, would make the test wait).
	var acquired int
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { acquired++; return acquired%2 == 0 }
	c := dbcalls.New()
	c.TracePool(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	before := counts(t, c)
	for range 4 {
		if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	db := cfg.ConnConfig.Database
	equal(t, "pings", delta(before, counts(t, c)), map[string]float64{
		"crm_db_statements_total{database=" + db + ",kind=select}": 4,
		"crm_db_pings_total{database=" + db + "}":                  2,
		"crm_db_round_trips_total{database=" + db + "}":            6,
	})
}
