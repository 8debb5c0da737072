package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/testenv"
	"crm/projector"
)

// catchUpPartitions is the partition count crm runs with (its default).
const catchUpPartitions = 8

// benchCatchUp puts catchupN events in the customers area's log with an
// empty Redis namespace, then runs the real processes that must catch up:
// `crm service customers` (its relay copies the log into Redis) and, once
// the relay is done, `crm projector` (every projection that follows the
// customers area starts from nothing). It reports each one's rate and
// resident memory. The projector runs for at most catchupWindow.
func benchCatchUp(ctx context.Context, o options, e *env, rep *report) error {
	b, err := startProcessBench(ctx, o, e, "catchup", "_cu", 4)
	if err != nil {
		return err
	}
	defer b.close()
	bin, dir, dbURL, pool := b.bin, b.dir, b.dbURL, b.pool
	n := int64(o.catchupN) / (genBlock * 4) * (genBlock * 4) // whole blocks
	start := time.Now()
	if err := fillArea(ctx, pool, "customers", 0, n); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE customers.events"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: catch-up: %d events loaded in %s\n", n, time.Since(start).Round(time.Millisecond))
	// The other areas' logs are empty; this process serves them.
	logs, err := serveLogs(ctx, pool, "relationships", "appointments", "campaigns")
	if err != nil {
		return err
	}
	defer logs.close()
	svcAddr, err := testenv.FreeAddr()
	if err != nil {
		return err
	}
	penv := append(logs.env(), "CRM_DATABASE_URL="+dbURL, "CRM_REDIS_URL="+o.redisURL, "CRM_NAMESPACE="+e.ns+"_cu",
		"CRM_SERVICE_ADDR="+svcAddr, "CRM_CUSTOMERS_URL=http://"+svcAddr)

	s := section{
		title: fmt.Sprintf("Catch-up: relay and projector processes %d events behind", n),
		note: fmt.Sprintf("The customers area's log holds %d events (CustomerRegistered, then 3 CustomerUpdated per customer, %d customers) and the Redis namespace is empty. "+
			"First `crm service customers` starts: its relay copies the whole log into the 8 partition streams (trimmed to about 100,000 entries each). "+
			"Then `crm projector` starts with nothing applied; its consumer of the customers area (one consumer, a sink per projection that follows the area: %s) catches up from the service's log "+
			"(`GET /events`, pages of 1000, read once for all partitions; the next page read while one applies; each page applied to every projection as two batches of disjoint partitions on two connections, the first sent while the second is built, each one round trip and one transaction, its upserts folded per row), then follows the stream. "+
			"It runs until all are caught up or for %s; applied counts each event at or below its partition's checkpoint, counted in the log afterwards. "+
			"Time runs from the process's start; CPU is the process's user+system time over that span; resident memory is sampled every 50 ms (VmHWM, and ru_maxrss at exit); “at end” is VmRSS when caught up or when the window closed. "+
			"Services and projectors run with Go's default GC settings (GOGC=300 is the default of gateway and dev only: cmd/crm/gc.go). Targets: each projection at least 20,000 events/s (its row's events/s: applied over the time it took, or over the window when it did not finish); memory bounded, not growing with the events behind. `-catchup-events` sets the events behind, `-catchup-window` the window.",
			n, n/4, followersText(), o.catchupWindow),
		header: []string{"process", "work", "events", "time", "events/s", "CPU", "peak resident", "resident at end"},
	}

	svc, err := startSettled(ctx, bin, dir, "service-customers", penv, 500*time.Millisecond, "service", "customers")
	if err != nil {
		return err
	}
	defer svc.stop()
	relayed, took, err := waitRelay(ctx, pool, svc, n, max(o.catchupWindow, 5*time.Minute))
	if err != nil {
		return err
	}
	relayCPU := svc.cpu()
	s.rows = append(s.rows, []string{"`crm service customers`", "relay: log → Redis streams",
		fmt.Sprintf("%d of %d", relayed, n), secs(took), rate(relayed, took), secs(relayCPU), mib(svc.peak()), mib(svc.resident())})
	fmt.Fprintf(os.Stderr, "bench: catch-up: relay %d events in %s, peak %s\n", relayed, took.Round(time.Millisecond), mib(svc.peak()))

	proj, err := startSettled(ctx, bin, dir, "projector", penv, 500*time.Millisecond, "projector")
	if err != nil {
		return err
	}
	defer proj.stop()
	doneAt, took, err := waitProjector(ctx, pool, proj, n, o.catchupWindow)
	if err != nil {
		return err
	}
	endRSS := proj.resident()
	proj.stop()
	svcCPU, svcRSS := svc.cpu()-relayCPU, svc.resident()
	applied, err := appliedCounts(ctx, pool)
	if err != nil {
		return err
	}
	var total int64
	for _, name := range followers() {
		d, caught := doneAt[name]
		if !caught {
			d = took
		}
		a := applied[projector.ConsumerName(name)]
		total += a
		s.rows = append(s.rows, []string{"`crm projector`", fmt.Sprintf("`%s` projection from the log", name),
			fmt.Sprintf("%d of %d", a, n), secs(d), rate(a, d), "", "", ""})
	}
	s.rows = append(s.rows, []string{"`crm projector`", fmt.Sprintf("all %d consumers of the area, one process", len(followers())),
		fmt.Sprintf("%d of %d", total, n*int64(len(followers()))), secs(took), rate(total, took), secs(proj.cpu()), mib(proj.peak()), mib(endRSS)})
	s.rows = append(s.rows, []string{"`crm service customers`", "meanwhile: serving its log to the projector's catch-up",
		"", secs(took), "", secs(svcCPU), mib(svc.peak()), mib(svcRSS)})
	fmt.Fprintf(os.Stderr, "bench: catch-up: projector applied %d in %s, peak %s (%s after start)\n",
		total, took.Round(time.Millisecond), mib(proj.peak()), proj.peakAt.Round(100*time.Millisecond))
	rep.add(s)
	return nil
}

// followers are the projections that follow the customers area.
func followers() []string {
	var out []string
	for _, p := range projector.All() {
		if slices.Contains(p.Sources(), "customers") {
			out = append(out, p.Name())
		}
	}
	return out
}

func followersText() string {
	var s string
	for i, f := range followers() {
		if i > 0 {
			s += ", "
		}
		s += "`" + f + "`"
	}
	return s
}

// waitRelay waits until the relay's recorded progress reaches n, the
// service exits or timeout passes, and returns how far it got and when.
func waitRelay(ctx context.Context, pool *pgxpool.Pool, svc *child, n int64, timeout time.Duration) (int64, time.Duration, error) {
	var pos int64
	for {
		err := pool.QueryRow(ctx, `SELECT position FROM customers.relay_progress WHERE area = 'customers'`).Scan(&pos)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) && !isUndefinedTable(err) {
			return 0, 0, fmt.Errorf("relay progress: %w", err)
		}
		took := time.Since(svc.start)
		if pos >= n || took >= timeout {
			return pos, took, nil
		}
		if svc.exited() {
			return 0, 0, fmt.Errorf("crm service customers exited: %s", svc.tail())
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitProjector waits until every follower's checkpoints cover n, the
// projector exits or the window closes. doneAt says when each follower got
// there (since the process start); took is the time waited.
func waitProjector(ctx context.Context, pool *pgxpool.Pool, proj *child, n int64, window time.Duration) (doneAt map[string]time.Duration, took time.Duration, err error) {
	doneAt = map[string]time.Duration{}
	for {
		rows, err := pool.Query(ctx, `SELECT name, count(*), min(greatest(position, through)) FROM read.consumer_checkpoints
			WHERE area = 'customers' GROUP BY name`)
		if err == nil {
			var name string
			var parts, low int64
			_, err = pgx.ForEachRow(rows, []any{&name, &parts, &low}, func() error {
				for _, f := range followers() {
					if name == projector.ConsumerName(f) && parts == catchUpPartitions && low >= n {
						if _, ok := doneAt[f]; !ok {
							doneAt[f] = time.Since(proj.start)
						}
					}
				}
				return nil
			})
		}
		if err != nil && !isUndefinedTable(err) {
			return nil, 0, fmt.Errorf("projector checkpoints: %w", err)
		}
		took = time.Since(proj.start)
		if len(doneAt) == len(followers()) || took >= window {
			return doneAt, took, nil
		}
		if proj.exited() {
			return nil, 0, fmt.Errorf("crm projector exited: %s", proj.tail())
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// appliedCounts counts, per consumer of the customers area, the log's
// events at or below their partition's checkpoint (position or through).
func appliedCounts(ctx context.Context, pool *pgxpool.Pool) (map[string]int64, error) {
	rows, err := pool.Query(ctx, `SELECT DISTINCT stream_id FROM customers.events`)
	if err != nil {
		return nil, err
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_partitions (stream_id text PRIMARY KEY, partition int NOT NULL)`); err != nil {
		return nil, err
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_partitions"}, []string{"stream_id", "partition"},
		pgx.CopyFromSlice(len(streams), func(i int) ([]any, error) {
			return []any{streams[i], eventlog.Partition(streams[i], catchUpPartitions)}, nil
		})); err != nil {
		return nil, err
	}
	rows, err = pool.Query(ctx, `SELECT c.name, count(*) FROM customers.events e
		JOIN bench_partitions b USING (stream_id)
		JOIN read.consumer_checkpoints c ON c.area = 'customers' AND c.partition = b.partition
			AND e.position <= greatest(c.position, c.through)
		GROUP BY c.name`)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var name string
	var cnt int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &cnt}, func() error { out[name] = cnt; return nil }); err != nil {
		return nil, err
	}
	return out, nil
}

// isUndefinedTable reports a missing table or schema (the process has not
// migrated yet).
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000")
}
