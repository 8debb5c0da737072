package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/scripts/cluster"
)

// rebuildProjection is the projection the rebuild section rebuilds: the
// customer read model, fed by all four areas, whose Apply does every kind
// of write the projections do (plain upserts from customer and
// relationship events; per-customer locks, a private table and a recomputed
// aggregate from appointment and deal events).
const rebuildProjection = "customers"

// rebuildTables are its tables, whose final rows the raw baseline copies.
var rebuildTables = []string{"customers", "customer_appointments", "customer_deals"}

// rebuildRun is one `crm projections rebuild` of a log of events events.
type rebuildRun struct {
	events, rows   int64
	replayed       int64
	took, wall     time.Duration
	copyTook, cpu  time.Duration
	peak           int64
	customers, all int64 // customer rows complete as generated / all
}

// benchRebuild loads the four areas' logs with synthetic histories and runs
// the real `crm projections rebuild customers` at two sizes (the log is
// extended in between), timing it and watching its resident memory, then
// copies the read model's final rows with pgx CopyFrom into plain tables
// as the raw baseline.
func benchRebuild(ctx context.Context, o options, e *env, rep *report) error {
	b, err := startProcessBench(ctx, o, e, "rebuild", "_rb", 6)
	if err != nil {
		return err
	}
	defer b.close()
	bin, dir, dbURL, pool := b.bin, b.dir, b.dbURL, b.pool
	logs, err := serveLogs(ctx, pool, "customers", "relationships", "appointments", "campaigns")
	if err != nil {
		return err
	}
	defer logs.close()
	penv := append(logs.env(), "CRM_DATABASE_URL="+dbURL, "CRM_REDIS_URL="+o.redisURL, "CRM_NAMESPACE="+e.ns+"_rb")

	var sizes []int64
	if o.rebuildSmall > 0 && o.rebuildSmall < o.rebuildN {
		sizes = append(sizes, o.rebuildSmall)
	}
	sizes = append(sizes, o.rebuildN)
	var runs []rebuildRun
	var loaded int64
	for _, n := range sizes {
		n = n / (genBlock * genPerCustomer) * (genBlock * genPerCustomer) // whole blocks
		start := time.Now()
		if err := fillAreas(ctx, pool, loaded, n); err != nil {
			return err
		}
		loaded = n
		for area := range genAreas {
			if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+area+".events"); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "bench: rebuild: %d events loaded in %s\n", n, time.Since(start).Round(time.Millisecond))
		r, err := runRebuild(ctx, bin, dir, penv, n)
		if err != nil {
			return err
		}
		if err := checkRebuilt(ctx, pool, &r); err != nil {
			return err
		}
		if r.copyTook, err = copyBaseline(ctx, pool, &r); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: rebuild: %d events in %s (peak %s); COPY of %d rows in %s\n",
			n, r.took.Round(time.Millisecond), mib(r.peak), r.rows, r.copyTook.Round(time.Millisecond))
		runs = append(runs, r)
	}

	speed := section{
		title: "Rebuild: `crm projections rebuild customers` vs raw COPY of its final rows",
		note: "The real binary rebuilds the `customers` read model (the one fed by all four areas; its Apply does every kind of write the projections do: " +
			"plain upserts for customer and relationship events; a per-customer lock, a private-table upsert and a recomputed aggregate for appointment and deal events) " +
			"from the areas' logs, served over HTTP (`GET /events`, pages of 1000) by this process as the services serve them. " +
			"Each synthetic customer has 10 events: CustomerRegistered and 3 CustomerUpdated, AccountTeamAssigned and InterestRecorded, AppointmentScheduled and AppointmentRescheduled, DealOpened and DealWon; " +
			"so every 10 events leave 3 rows (customers, customer_appointments, customer_deals). " +
			"Time and events/s are the rebuild's own (`replayed`, `duration` of its final log line: scratch tables, replay and switch, without process start). " +
			"Baseline: the same final rows, read into memory first, written by pgx `CopyFrom` into plain tables of the same columns (no indexes) on one connection, in the same run. " +
			"Ratio = COPY time / rebuild time: the share of the rebuild that writing its result takes. " +
			"Process CPU is the rebuild process's user+system time (the rest of its wall time it waits on PostgreSQL and the log server). " +
			"Each page of 1000 events is one batch in one transaction, its upserts folded per row (`Batch.Upsert`): one advisory-lock statement for the page's customers, " +
			"one set-based upsert per table and set of columns, one recomputation per aggregate for all the page's customers (`Batch.Refresh`); " +
			"the four areas replay at once on their own connections, each reading its next page (gob-encoded, `eventlog.PageMediaType`) while one applies, into unlogged scratch tables set logged before the switch, " +
			"whose query-only indexes (by sales rep, manager, interest) are created once after the replay. " +
			"What bounds it: every customer row is rewritten once per area and per aggregate (six row versions with their index entries, against one COPY row), " +
			"and the CPU of two cores shared by PostgreSQL (about half of it), the log server and the rebuild's decoding.",
		header: []string{"log events", "final rows", "rebuild", "rebuild events/s", "rebuild process CPU", "raw COPY", "COPY rows/s", "ratio"},
	}
	mem := section{
		title: "Rebuild: resident memory of `crm projections rebuild customers`",
		note: "Peak resident memory of the same runs: the largest of VmHWM sampled from /proc/PID/status every 50 ms and ru_maxrss of the exited process. " +
			"Target: under 256 MB at 1,000,000 events and about the same at 100,000 (the rebuild streams: one page of events and one transaction at a time). " +
			"The rebuild runs with Go's default GC settings (GOGC=300 is the default of gateway and dev only: cmd/crm/gc.go).",
		header: []string{"log events", "peak resident", "wall time of the process"},
	}
	for _, r := range runs {
		speed.rows = append(speed.rows, []string{fmt.Sprint(r.events), fmt.Sprint(r.rows), secs(r.took), rate(r.replayed, r.took),
			secs(r.cpu), secs(r.copyTook), rate(r.rows, r.copyTook), fineRatio(r.copyTook.Seconds(), r.took.Seconds())})
		mem.rows = append(mem.rows, []string{fmt.Sprint(r.events), mib(r.peak), secs(r.wall)})
	}
	if len(runs) == 2 {
		mem.rows = append(mem.rows, []string{fmt.Sprintf("growth %d → %d", runs[0].events, runs[1].events),
			fmt.Sprintf("%+.1f MB (%s)", float64(runs[1].peak-runs[0].peak)/(1<<20), ratio(float64(runs[1].peak), float64(runs[0].peak))), ""})
	}
	rep.add(speed)
	rep.add(mem)
	return nil
}

var (
	rebuiltLine = regexp.MustCompile(`msg="projection rebuilt".* replayed=(\d+) .*skipped=(\d+) duration=(\S+)`)
)

// runRebuild runs `crm projections rebuild customers` to its end.
func runRebuild(ctx context.Context, bin, dir string, env []string, n int64) (rebuildRun, error) {
	r := rebuildRun{events: n}
	var c *child
	for attempt := 1; ; attempt++ {
		var err error
		c, err = startChild(bin, dir, fmt.Sprintf("rebuild-%d", n), env, "projections", "rebuild", rebuildProjection)
		if err != nil {
			return r, err
		}
		err = c.wait(ctx)
		if err == nil {
			break
		}
		// Other work on this server may hold every connection for a while.
		if !c.tooManyClients() || attempt >= 5 || ctx.Err() != nil {
			return r, err
		}
		fmt.Fprintf(os.Stderr, "bench: rebuild %d: PostgreSQL has no free connection; running it again in 5 s\n", n)
		time.Sleep(5 * time.Second)
	}
	r.wall = time.Since(c.start)
	r.peak = c.peak()
	r.cpu = c.cpu()
	b, err := os.ReadFile(c.log)
	if err != nil {
		return r, err
	}
	m := rebuiltLine.FindStringSubmatch(string(b))
	if m == nil {
		return r, fmt.Errorf("rebuild %d: no final log line: %s", n, c.tail())
	}
	r.replayed, _ = strconv.ParseInt(m[1], 10, 64)
	if m[2] != "0" {
		return r, fmt.Errorf("rebuild %d: %s events skipped (bad synthetic data?): %s", n, m[2], c.tail())
	}
	if r.took, err = time.ParseDuration(strings.Trim(m[3], `"`)); err != nil {
		return r, fmt.Errorf("rebuild %d: duration %q: %w", n, m[3], err)
	}
	if r.replayed != n {
		return r, fmt.Errorf("rebuild %d: replayed %d events", n, r.replayed)
	}
	return r, nil
}

// checkRebuilt checks that every customer's row came out as its history
// says, so the figures are those of a correct rebuild.
func checkRebuilt(ctx context.Context, pool *pgxpool.Pool, r *rebuildRun) error {
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE registered AND status = 'ACTIVE' AND version = 4
			AND sales_rep_id IS NOT NULL AND interests = '{golf}' AND upcoming_appointment_count = 1
			AND open_deal_count = 0 AND won_totals = '{"EUR":"1350.50"}'), count(*)
		FROM read.customers`).Scan(&r.customers, &r.all); err != nil {
		return fmt.Errorf("check read model: %w", err)
	}
	want := r.events / genPerCustomer
	if r.customers != want || r.all != want {
		return fmt.Errorf("rebuild %d: %d customer rows (%d as expected), want %d", r.events, r.all, r.customers, want)
	}
	return nil
}

// copyBaseline reads the rebuilt tables' rows into memory, then times
// writing them with CopyFrom into plain tables of the same columns.
func copyBaseline(ctx context.Context, pool *pgxpool.Pool, r *rebuildRun) (time.Duration, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	data := map[string][][]any{}
	cols := map[string][]string{}
	r.rows = 0
	for _, t := range rebuildTables {
		rows, err := conn.Query(ctx, "SELECT * FROM read."+t)
		if err != nil {
			return 0, err
		}
		for _, f := range rows.FieldDescriptions() {
			cols[t] = append(cols[t], f.Name)
		}
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				rows.Close()
				return 0, err
			}
			data[t] = append(data[t], v)
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
		r.rows += int64(len(data[t]))
		if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS bench_copy_`+t+`; CREATE TABLE bench_copy_`+t+` (LIKE read.`+t+`)`); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for _, t := range rebuildTables {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_copy_" + t}, cols[t], pgx.CopyFromRows(data[t])); err != nil {
			return 0, fmt.Errorf("copy %s: %w", t, err)
		}
	}
	took := time.Since(start)
	for _, t := range rebuildTables {
		if _, err := conn.Exec(ctx, `DROP TABLE bench_copy_`+t); err != nil {
			return 0, err
		}
	}
	return took, nil
}

// benchDatabase creates the database <bench db><suffix>; drop removes it
// and the Redis keys of the namespace <bench ns><suffix>.
func benchDatabase(ctx context.Context, e *env, suffix string) (dbURL string, drop func(), err error) {
	name := e.dbName + suffix
	dbURL, err = cluster.CreateDatabase(ctx, e.adminURL, name)
	if err != nil {
		return "", nil, err
	}
	drop = func() {
		cctx := context.Background()
		iter := e.rdb.Scan(cctx, 0, e.ns+suffix+":*", 1000).Iterator()
		for iter.Next(cctx) {
			e.rdb.Del(cctx, iter.Val())
		}
		cluster.DropDatabases(cctx, e.adminURL, []string{name})
	}
	return dbURL, drop, nil
}

// smallPool opens a pool of at most n connections that opens them lazily.
func smallPool(ctx context.Context, dbURL string, n int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = n
	return pgxpool.NewWithConfig(ctx, cfg)
}

func secs(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// fineRatio is ratio with three decimals below 0.1x.
func fineRatio(a, b float64) string {
	if b != 0 && a/b < 0.1 {
		return fmt.Sprintf("%.3fx", a/b)
	}
	return ratio(a, b)
}
