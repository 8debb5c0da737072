package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// What a mutation and an idle second cost, counted two ways: by the crm
// process itself (its /metrics: the dbcalls counters, exact for that
// process) and by the servers (PostgreSQL's pg_stat_database of the bench
// database; Redis's INFO commandstats, which counts every client of the
// shared server).

// pgStatFlush is how long a PostgreSQL 15 backend may keep its transaction
// counts before pg_stat_database shows them: one that went idle less than
// a second after its last report reports again 10 s later
// (PGSTAT_IDLE_INTERVAL). Server-side snapshots wait that long after the
// work they count.
const pgStatFlush = 11 * time.Second

// afterSettle is how long the cost count goes on once the projections are
// at lag 0 again: the areas' replicas and reactions (which `projections`
// does not show) finish meanwhile.
const afterSettle = time.Second

// metrics is one scrape of a crm process's /metrics: series
// ("name{labels}", as exposed) → value.
type metrics map[string]float64

// scrape reads base/metrics. Scraping runs the gateway's lag collector,
// itself a few statements.
func scrape(ctx context.Context, base string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := gwHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("/metrics %d: %s", resp.StatusCode, b)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// by sums the series of metric name by the value of label ("" sums all
// into the key "").
func (m metrics) by(name, label string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		series, labels, _ := strings.Cut(k, "{")
		if series != name {
			continue
		}
		out[labelValue(labels, label)] += v
	}
	return out
}

// labelValue is label's value in a `a="x",b="y"}` text, "" when absent
// (or when label is "").
func labelValue(labels, label string) string {
	if label == "" {
		return ""
	}
	for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == label {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// counts are named counters (by statement kind, by command...).
type counts map[string]float64

func (c counts) total() float64 {
	var t float64
	for _, v := range c {
		t += v
	}
	return t
}

// minus is c - o, per name.
func (c counts) minus(o counts) counts {
	out := counts{}
	for k, v := range c {
		out[k] = v - o[k]
	}
	for k, v := range o {
		if _, ok := c[k]; !ok {
			out[k] = -v
		}
	}
	return out
}

// scaled is c times f, per name.
func (c counts) scaled(f float64) counts {
	out := counts{}
	for k, v := range c {
		out[k] = v * f
	}
	return out
}

// top formats the n largest counts as "name 1.2, name 0.8, ..." (with
// unit after each value), dropping those that round to zero.
func (c counts) top(n int, unit string) string {
	names := make([]string, 0, len(c))
	for k, v := range c {
		if v >= 0.05 {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if c[a] != c[b] {
			if c[a] > c[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(names) > n {
		names = names[:n]
	}
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %.1f%s", k, c[k], unit)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// procCounts is what one scrape says about the process's calls.
type procCounts struct {
	statements counts // by kind
	pgTrips    float64
	batches    float64
	pings      float64
	commands   counts // Redis, by command
	redisTrips float64
}

func procCountsOf(m metrics) procCounts {
	return procCounts{
		statements: counts(m.by("crm_db_statements_total", "kind")),
		pgTrips:    m.by("crm_db_round_trips_total", "")[""],
		batches:    m.by("crm_db_batches_total", "")[""],
		pings:      m.by("crm_db_pings_total", "")[""],
		commands:   counts(m.by("crm_redis_commands_total", "cmd")),
		redisTrips: m.by("crm_redis_round_trips_total", "")[""],
	}
}

func (p procCounts) minus(o procCounts) procCounts {
	return procCounts{statements: p.statements.minus(o.statements), pgTrips: p.pgTrips - o.pgTrips, batches: p.batches - o.batches,
		pings: p.pings - o.pings, commands: p.commands.minus(o.commands), redisTrips: p.redisTrips - o.redisTrips}
}

func (p procCounts) scaled(f float64) procCounts {
	return procCounts{statements: p.statements.scaled(f), pgTrips: p.pgTrips * f, batches: p.batches * f,
		pings: p.pings * f, commands: p.commands.scaled(f), redisTrips: p.redisTrips * f}
}

// snapshot is the counters of one process and of the servers at one moment.
type snapshot struct {
	at          time.Time
	proc        procCounts
	redisServer counts // INFO commandstats calls, INFO itself left out
	redisAt     time.Time
	pgXacts     float64 // xact_commit + xact_rollback of the bench database
	pgAt        time.Time
}

// costProbe takes snapshots of one crm process and of the servers.
type costProbe struct {
	base   string        // the crm process's URL
	admin  *pgx.Conn     // on the maintenance database: its reads are no transaction of the bench database
	dbName string        // the bench database
	rdb    *redis.Client // the bench's own client; INFO is its only command meanwhile
}

func (p *costProbe) proc(ctx context.Context, s *snapshot) error {
	m, err := scrape(ctx, p.base)
	if err != nil {
		return err
	}
	s.at, s.proc = time.Now(), procCountsOf(m)
	return nil
}

func (p *costProbe) redisServer(ctx context.Context, s *snapshot) error {
	info, err := p.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return fmt.Errorf("redis INFO commandstats: %w", err)
	}
	s.redisAt, s.redisServer = time.Now(), commandStats(info)
	return nil
}

func (p *costProbe) pg(ctx context.Context, s *snapshot) error {
	// Each statement outside a transaction reads a fresh statistics
	// snapshot (stats_fetch_consistency = cache keeps one per transaction).
	if err := p.admin.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1`,
		p.dbName).Scan(&s.pgXacts); err != nil {
		return fmt.Errorf("pg_stat_database: %w", err)
	}
	s.pgAt = time.Now()
	return nil
}

// all takes every part of a snapshot at once.
func (p *costProbe) all(ctx context.Context) (snapshot, error) {
	var s snapshot
	if err := p.pg(ctx, &s); err != nil {
		return s, err
	}
	if err := p.redisServer(ctx, &s); err != nil {
		return s, err
	}
	return s, p.proc(ctx, &s)
}

// commandStats parses INFO commandstats: cmdstat_<name>:calls=N,... → N,
// subcommands as "client|setinfo"; INFO itself (the bench's) is left out.
func commandStats(info string) counts {
	out := counts{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || name == "info" {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				out[name] = n
			}
		}
	}
	return out
}

// idleRates is what the process and the servers do per second with no
// traffic.
type idleRates struct {
	proc        procCounts // per second
	redisServer counts     // per second
	pgXacts     float64    // per second
	span        time.Duration
}

// measureIdle waits until nothing is pending (projections at lag 0, then
// pgStatFlush for PostgreSQL's statistics to catch up), then counts over
// d. The last snapshot is returned, to start the next measurement from.
func measureIdle(ctx context.Context, p *costProbe, dev *crmProc, d time.Duration) (idleRates, snapshot, error) {
	if err := waitFor(ctx, dev, 60*time.Second, "projections at lag 0 before idle", func() error { return settled(ctx, dev.url) }); err != nil {
		return idleRates{}, snapshot{}, err
	}
	if err := sleep(ctx, pgStatFlush); err != nil {
		return idleRates{}, snapshot{}, err
	}
	a, err := p.all(ctx)
	if err != nil {
		return idleRates{}, snapshot{}, err
	}
	if err := sleep(ctx, d); err != nil {
		return idleRates{}, snapshot{}, err
	}
	b, err := p.all(ctx)
	if err != nil {
		return idleRates{}, snapshot{}, err
	}
	return idleRates{
		proc:        b.proc.minus(a.proc).scaled(1 / b.at.Sub(a.at).Seconds()),
		redisServer: b.redisServer.minus(a.redisServer).scaled(1 / b.redisAt.Sub(a.redisAt).Seconds()),
		pgXacts:     (b.pgXacts - a.pgXacts) / b.pgAt.Sub(a.pgAt).Seconds(),
		span:        b.at.Sub(a.at),
	}, b, nil
}

// mutationCost is what the mutations of one load cost, per mutation, net
// of what the same spans cost idle.
type mutationCost struct {
	n           int64 // mutations appended (the customers log's growth)
	proc        procCounts
	redisServer counts
	pgXacts     float64
	procSpan    time.Duration // first to last scrape of the process
	pgSpan      time.Duration
}

// costOf counts around run, which drives the mutations: a (taken just
// before, after idle) is the start; after run the projections settle, the
// process and Redis are read at once and PostgreSQL's statistics after
// pgStatFlush. appended counts the mutations recorded so far.
func costOf(ctx context.Context, p *costProbe, dev *crmProc, a snapshot, idle idleRates,
	appended func(context.Context) (int64, error), run func()) (mutationCost, error) {
	n0, err := appended(ctx)
	if err != nil {
		return mutationCost{}, err
	}
	run()
	if err := waitFor(ctx, dev, 60*time.Second, "projections at lag 0 after the mutations", func() error { return settled(ctx, dev.url) }); err != nil {
		return mutationCost{}, err
	}
	// The areas' replicas and reactions are no projection: give them
	// afterSettle to finish too.
	if err := sleep(ctx, afterSettle); err != nil {
		return mutationCost{}, err
	}
	var b snapshot
	if err := p.redisServer(ctx, &b); err != nil {
		return mutationCost{}, err
	}
	if err := p.proc(ctx, &b); err != nil {
		return mutationCost{}, err
	}
	if err := sleep(ctx, pgStatFlush); err != nil {
		return mutationCost{}, err
	}
	if err := p.pg(ctx, &b); err != nil {
		return mutationCost{}, err
	}
	n1, err := appended(ctx)
	if err != nil {
		return mutationCost{}, err
	}
	c := mutationCost{n: n1 - n0, procSpan: b.at.Sub(a.at), pgSpan: b.pgAt.Sub(a.pgAt)}
	if c.n <= 0 {
		return c, errNoMutation
	}
	per := 1 / float64(c.n)
	c.proc = b.proc.minus(a.proc).minus(idle.proc.scaled(c.procSpan.Seconds())).scaled(per)
	c.redisServer = b.redisServer.minus(a.redisServer).minus(idle.redisServer.scaled(b.redisAt.Sub(a.redisAt).Seconds())).scaled(per)
	c.pgXacts = (b.pgXacts - a.pgXacts - idle.pgXacts*c.pgSpan.Seconds()) * per
	return c, nil
}

// errNoMutation: the load recorded nothing, so there is nothing to divide
// by (the throughput table shows why).
var errNoMutation = errors.New("no mutation recorded")

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func num(v float64) string { return fmt.Sprintf("%.1f", v) }

// costSection is the table of what one registerCustomer costs.
func costSection(c mutationCost, idle idleRates, mut loadResult) section {
	pc := c.proc
	return section{
		title: fmt.Sprintf("Gateway: what one `registerCustomer` costs (%d clients)", gwClients),
		note: fmt.Sprintf("Counted around the %d-client `registerCustomer` load of the table above, divided by the mutations recorded (the customers log's growth: %d; %d answered within the window, the rest cut off by its end), "+
			"net of what the same span costs idle (the next table's rates × the span). "+
			"`crm dev` figures are its own counters, read from its /metrics before the load and %.0f s after the projections are back at lag 0 after it (span %.1f s): "+
			"`crm_db_statements_total` (each Query, QueryRow and Exec, each statement of a batch, each COPY; BEGIN and COMMIT included; by first keyword), "+
			"`crm_db_round_trips_total` (queries, batches, COPYs, and pgxpool's pings of a connection idle over a second before handing it out: `crm_db_pings_total`) and `crm_db_batches_total`, `crm_redis_commands_total` (each command, pipelined or not, MULTI and EXEC included; by name) and `crm_redis_round_trips_total` (commands sent alone, and pipelines), "+
			"fed by the pgx tracer and the go-redis hook of package dbcalls on every pool and Redis client of the process. "+
			"The whole work of each mutation is in them: command, append, relay, every projection and replica that follows the customers area, the read-your-writes wait and the answer; "+
			"so are the bench's own few settle polls and /metrics scrapes (a few statements per window). "+
			"PostgreSQL transactions are the server's count for the bench database (`xact_commit + xact_rollback` of `pg_stat_database`, read %.0f s after the load so that every backend has reported; span %.1f s): only `crm dev` uses that database meanwhile, and every statement outside a transaction block, every pool ping and autovacuum's work there are transactions too. "+
			"Redis server commands are `INFO commandstats` deltas: every client of the shared Redis server is in them (other work on the machine inflates them; INFO itself is left out). "+
			"Targets: at most 4 transactions, 15 statements and 15 Redis commands per mutation.",
			gwClients, c.n, mut.ok, afterSettle.Seconds(), c.procSpan.Seconds(), pgStatFlush.Seconds(), c.pgSpan.Seconds()),
		header: []string{"per mutation", "value", "target", "counted by"},
		rows: [][]string{
			{"PostgreSQL transactions", num(c.pgXacts), "≤ 4", "server: `pg_stat_database` of the bench database"},
			{"PostgreSQL statements", num(pc.statements.total()), "≤ 15", "`crm dev`: `crm_db_statements_total`"},
			{"… by first keyword", pc.statements.top(12, ""), "", "`crm dev`: `crm_db_statements_total{kind}`"},
			{"PostgreSQL round trips", fmt.Sprintf("%s (%s batches, %s pings)", num(pc.pgTrips), num(pc.batches), num(pc.pings)), "", "`crm dev`: `crm_db_round_trips_total`, `crm_db_batches_total`, `crm_db_pings_total`"},
			{"Redis commands", num(pc.commands.total()), "≤ 15", "`crm dev`: `crm_redis_commands_total`"},
			{"… by command (top 8)", pc.commands.top(8, ""), "", "`crm dev`: `crm_redis_commands_total{cmd}`"},
			{"Redis round trips", num(pc.redisTrips), "", "`crm dev`: `crm_redis_round_trips_total`"},
			{"Redis commands, whole server", num(c.redisServer.total()), "", "server: `INFO commandstats` (all clients)"},
			{"… by command (top 8)", c.redisServer.top(8, ""), "", "server: `INFO commandstats`"},
		},
	}
}

// idleSection is the table of what `crm dev` does with no traffic.
func idleSection(idle idleRates) section {
	pc := idle.proc
	return section{
		title: "Gateway: `crm dev` with no traffic",
		note: fmt.Sprintf("After the seed and the query load, once every projection is at lag 0 and %.0f s more have passed, counted over %.1f s with no request: "+
			"`crm dev`'s own counters (as in the table above) and the servers' (`pg_stat_database` of the bench database, where pool pings and autovacuum count as transactions too; `INFO commandstats` of the whole shared Redis server, other clients included). "+
			"Nothing polls when nothing happens: waiting is a blocking read or a notification (DESIGN.md). Target: under 20 Redis commands/s in all from `crm dev`.",
			pgStatFlush.Seconds(), idle.span.Seconds()),
		header: []string{"per second", "value", "target", "counted by"},
		rows: [][]string{
			{"Redis commands", num(pc.commands.total()) + "/s", "< 20/s", "`crm dev`: `crm_redis_commands_total`"},
			{"… by command", pc.commands.top(8, "/s"), "", "`crm dev`: `crm_redis_commands_total{cmd}`"},
			{"Redis round trips", num(pc.redisTrips) + "/s", "", "`crm dev`: `crm_redis_round_trips_total`"},
			{"Redis commands, whole server", num(idle.redisServer.total()) + "/s", "", "server: `INFO commandstats` (all clients)"},
			{"PostgreSQL transactions", num(idle.pgXacts) + "/s", "", "server: `pg_stat_database` of the bench database"},
			{"PostgreSQL statements", num(pc.statements.total()) + "/s", "", "`crm dev`: `crm_db_statements_total`"},
			{"… by first keyword", pc.statements.top(12, "/s"), "", "`crm dev`: `crm_db_statements_total{kind}`"},
			{"PostgreSQL pool pings", num(pc.pings) + "/s", "", "`crm dev`: `crm_db_pings_total`"},
		},
	}
}
