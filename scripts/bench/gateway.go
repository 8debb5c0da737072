package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"crm/eventlog/testenv"
	"crm/graph/auth"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The gateway benchmark drives the real binary: `crm dev` (gateway A, which
// also runs the services and the projector) and `crm gateway` (gateway B,
// subscriptions only), as separate processes on a database and Redis
// namespace of their own.

const (
	gwClients    = 16
	gwPushRate   = 200 // mutations/s during the push-latency drive
	gwPushDrive  = 10 * time.Second
	gwQuery      = `{ customers(first: 20) { edges { node { id name salesRep { name } nextAppointment { startsAt } deals { stage } } } } }`
	gwSubQuery   = `subscription($id: ID!) { customerChanged(id: $id) { id name } }`
	gwPushPrefix = "bench-sub-"
	// gwRawQuery is what the loaders fetch for gwQuery, as one statement.
	gwRawQuery = `SELECT c.id, c.name, s.name, a.starts_at, d.stages
		FROM read.customers c
		LEFT JOIN read.salespeople s ON s.id = c.sales_rep_id
		LEFT JOIN read.appointments a ON a.id = c.next_appointment_id AND a.registered
		LEFT JOIN LATERAL (SELECT array_agg(stage ORDER BY seq) AS stages FROM read.deals WHERE customer_id = c.id) d ON true
		WHERE c.registered ORDER BY c.seq LIMIT 20`
)

// crmProc is one crm process the benchmark started.
type crmProc struct {
	name string
	cmd  *exec.Cmd
	url  string // http://host:port
	log  string // file holding its stdout and stderr
	done chan struct{}
}

func startCRM(bin, dir, name string, env []string, args ...string) (*crmProc, error) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	p := &crmProc{name: name, url: "http://" + addr, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(baseEnv(), append(env, "CRM_HTTP_ADDR="+addr)...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start crm %s: %w", name, err)
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// stop sends SIGINT and kills the process if it has not ended within 10 s.
func (p *crmProc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tail is the end of the process's log, for error messages.
func (p *crmProc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// rss is the process's resident memory (VmRSS) in bytes.
func (p *crmProc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// waitFor polls check until it succeeds, the process dies or timeout passes.
func waitFor(ctx context.Context, p *crmProc, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("crm %s exited while waiting for %s: %s", p.name, what, p.tail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("crm %s: %s not reached in %s: %v", p.name, what, timeout, err)
		}
	}
}

type gqlResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

var gwHTTP = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

// gql posts one operation and fails on a transport or GraphQL error.
func gql(ctx context.Context, base, query string, vars map[string]any) (json.RawMessage, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	tok, err := token(ctx, base)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := gwHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r gqlResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return nil, fmt.Errorf("%s (%v)", r.Errors[0].Message, r.Errors[0].Extensions["code"])
	}
	return r.Data, nil
}

// settled reports nil once every projection runs with lag 0.
func settled(ctx context.Context, base string) error {
	data, err := gql(ctx, base, `{ projections { name state lag } }`, nil)
	if err != nil {
		return err
	}
	var r struct {
		Projections []struct {
			Name, State string
			Lag         int
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	if len(r.Projections) == 0 {
		return errors.New("no projections")
	}
	for _, p := range r.Projections {
		if p.State != "RUNNING" || p.Lag != 0 {
			return fmt.Errorf("projection %s: %s, lag %d", p.Name, p.State, p.Lag)
		}
	}
	return nil
}

func ready(ctx context.Context, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	resp, err := gwHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("readyz %d: %s", resp.StatusCode, b)
	}
	return nil
}

// loadResult is a closed-loop load: successes, failures, latencies.
type loadResult struct {
	ok, failed int64
	firstErr   error
	lat        []time.Duration
	d          time.Duration
}

func (r loadResult) rate() string { return rate(r.ok, r.d) }
func (r loadResult) pct(q float64) string {
	return ms(percentile(r.lat, q))
}

// load runs op from c goroutines for d, timing each call; failures are
// counted (the first kept), not fatal, so one timeout does not void a run.
func load(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, w, i int) error) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lats := make([][]time.Duration, c)
	var ok, failed atomic.Int64
	var once sync.Once
	res := loadResult{d: d}
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				t := time.Now()
				err := op(ctx, w, i)
				if ctx.Err() != nil {
					return // cut off by the end of the run: neither success nor failure
				}
				if err != nil {
					failed.Add(1)
					once.Do(func() { res.firstErr = err })
					continue
				}
				ok.Add(1)
				lats[w] = append(lats[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	res.ok, res.failed = ok.Load(), failed.Load()
	res.lat = slices.Concat(lats...)
	return res
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func mb(b int64) string         { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// benchGateway builds crm, starts `crm dev` and `crm gateway` on a fresh
// database and namespace (both dropped at the end), seeds them, and adds two
// sections: mutations and queries through `crm dev` beside raw SQL, and push
// latency and resident memory of `crm gateway`. Either process failing to
// start or become ready is an error carrying the end of its log.
func benchGateway(ctx context.Context, o options, e *env, rep *report) (err error) {
	dir, bin, dbURL, done, err := crmBench(ctx, e, "_gw")
	if err != nil {
		return err
	}
	defer done()
	penv := append([]string{"CRM_DATABASE_URL=" + dbURL, "CRM_NAMESPACE=" + e.ns + "_gw", "CRM_REDIS_URL=" + o.redisURL}, unlimited...)
	raiseNoFile()

	dev, err := startDev(ctx, bin, dir, "dev", penv)
	if err != nil {
		return err
	}
	defer dev.stop()
	if out, err := exec.CommandContext(ctx, bin, "seed", "--url", dev.url+"/graphql").CombinedOutput(); err != nil {
		return fmt.Errorf("crm seed: %v: %s", err, out)
	}
	if err := waitFor(ctx, dev, 60*time.Second, "projections at lag 0 after seed", func() error { return settled(ctx, dev.url) }); err != nil {
		return err
	}
	// crm gateway starts after the throughput, idle and cost measurements:
	// its own calls stay out of the servers' counts.
	if err := gwThroughput(ctx, o, e, dbURL, dev, rep); err != nil {
		return err
	}
	// crm gateway trusts crm dev's issuer; requests to it carry the dev's token.
	gw, err := startCRM(bin, dir, "gateway", append(penv, "CRM_AUTH_ISSUER="+dev.url+auth.DevPath, "CRM_METRICS=on"), "gateway")
	if err != nil {
		return err
	}
	sameIssuer(gw.url, dev.url)
	defer gw.stop() // deferred last: stopped before dev
	if err := waitFor(ctx, gw, 60*time.Second, "/readyz", func() error { return ready(ctx, gw.url) }); err != nil {
		return err
	}
	return gwSubscriptions(ctx, o, dev, gw, rep)
}

// startDev starts `crm dev` and waits until it is ready and its
// projections have caught up with the (empty) logs; on failure it is
// stopped.
func startDev(ctx context.Context, bin, dir, name string, env []string) (*crmProc, error) {
	dev, err := startCRM(bin, dir, name, env, "dev")
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, dev, 60*time.Second, "/readyz", func() error { return ready(ctx, dev.url) }); err != nil {
		dev.stop()
		return nil, err
	}
	if err := waitFor(ctx, dev, 60*time.Second, "projections at lag 0", func() error { return settled(ctx, dev.url) }); err != nil {
		dev.stop()
		return nil, err
	}
	return dev, nil
}

// crmBench prepares a section that runs crm processes: a temporary
// directory holding a fresh build of ./cmd/crm (bin), and a database of its
// own (suffix names it and the section's Redis namespace, e.ns+suffix).
// done drops both. PostgreSQL here allows 100 connections: the earlier
// sections' pools (which hold their connections open) are done, so they
// are given back.
func crmBench(ctx context.Context, e *env, suffix string) (dir, bin, dbURL string, done func(), err error) {
	if dir, err = os.MkdirTemp("", "crm-bench-"); err != nil {
		return "", "", "", nil, err
	}
	bin = filepath.Join(dir, "crm")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crm").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", "", nil, fmt.Errorf("build crm: %v: %s", err, out)
	}
	dbURL, drop, err := benchDatabase(ctx, e, suffix)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", "", nil, err
	}
	for _, p := range e.pools {
		p.Close()
	}
	e.pools = nil
	return dir, bin, dbURL, func() { drop(); os.RemoveAll(dir) }, nil
}

// raiseNoFile lifts the soft open-files limit to the hard one (inherited by
// the crm processes): 10,000 websockets need as many descriptors per side.
func raiseNoFile() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// gwThroughput measures queries and mutations through gateway A beside a
// raw select of the same rows and the raw INSERT of appends.go.
func gwThroughput(ctx context.Context, o options, e *env, dbURL string, dev *crmProc, rep *report) error {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return err
	}
	cfg.MaxConns, cfg.MinConns = gwClients, gwClients
	readPool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer readPool.Close()
	var sample int
	if err := readPool.QueryRow(ctx, `SELECT count(*) FROM (`+gwRawQuery+`) x`).Scan(&sample); err != nil || sample != 20 {
		return fmt.Errorf("raw select: %d rows, %v", sample, err)
	}
	rawSel := load(ctx, gwClients, o.duration, func(ctx context.Context, w, i int) error {
		rows, err := readPool.Query(ctx, gwRawQuery)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, name string
			var rep *string
			var at *time.Time
			var stages []string
			if err := rows.Scan(&id, &name, &rep, &at, &stages); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	gwSel := load(ctx, gwClients, o.duration, func(ctx context.Context, w, i int) error {
		_, err := gql(ctx, dev.url, gwQuery, nil)
		return err
	})

	readPool.Close() // stay well under max_connections beside the two crm processes
	pool, err := e.pool(ctx, gwClients)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS raw_events (id bigserial PRIMARY KEY, event_id uuid NOT NULL,
		stream_id text NOT NULL, type text NOT NULL, data jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	insert := func(ctx context.Context, w, i int) error {
		_, err := pool.Exec(ctx, "INSERT INTO raw_events (event_id, stream_id, type, data) VALUES (gen_random_uuid(), $1, 'CustomerRegistered', $2)",
			fmt.Sprintf("s-%d", w), payload)
		return err
	}
	// register registers a new customer; run tags the load (emails are
	// unique among active customers).
	register := func(run string) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			_, err := gql(ctx, dev.url, `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`,
				map[string]any{"i": map[string]any{"name": fmt.Sprintf("Bench %s-%d-%d", run, w, i), "email": fmt.Sprintf("bench-%s-%d-%d@example.com", run, w, i)}})
			return err
		}
	}
	rawIns := load(ctx, gwClients, o.duration, insert)

	// What a mutation costs: idle first (which also lets the loads above
	// settle), then around the 16-client mutation load.
	admin, err := pgx.Connect(ctx, e.adminURL)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	probe := &costProbe{base: dev.url, admin: admin, dbName: e.dbName + "_gw", rdb: e.rdb}
	idle, start, err := measureIdle(ctx, probe, dev, o.idle)
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: gateway: idle %.1f Redis commands/s, %.1f statements/s, %.1f transactions/s\n",
		idle.proc.commands.total(), idle.proc.statements.total(), idle.pgXacts)
	logPool, err := smallPool(ctx, dbURL, 1) // the crm database: its customers log
	if err != nil {
		return err
	}
	defer logPool.Close()
	var gwMut loadResult
	cost, err := costOf(ctx, probe, dev, start, idle, func(ctx context.Context) (n int64, err error) {
		err = logPool.QueryRow(ctx, `SELECT count(*) FROM customers.events WHERE type = 'CustomerRegistered'`).Scan(&n)
		return n, err
	}, func() { gwMut = load(ctx, gwClients, o.duration, register("c16")) })
	if err != nil && !errors.Is(err, errNoMutation) {
		return fmt.Errorf("mutation cost: %w", err)
	}
	rawIns1 := load(ctx, 1, o.duration, insert)
	gwMut1 := load(ctx, 1, o.duration, register("c1"))
	for _, r := range []loadResult{rawSel, gwSel, rawIns, rawIns1} {
		if r.ok == 0 {
			return fmt.Errorf("gateway throughput: nothing succeeded: %v", r.firstErr)
		}
	}
	failures := func(r loadResult) string {
		if r.failed == 0 {
			return "0"
		}
		return fmt.Sprintf("%d (%v)", r.failed, r.firstErr)
	}
	rep.add(section{
		title: "Gateway: mutations and queries through `crm dev` vs raw SQL",
		note: fmt.Sprintf("The real binary, `crm dev` (services, projector and gateway in one process), on a fresh database seeded with `crm seed`, driven over HTTP by closed-loop clients "+
			"(each sends its next request when the previous one is answered). "+
			"Mutation: `registerCustomer(input: $i) { id }` (command, append, relay, projection, read-your-writes wait; selecting the id alone, the answer reads no row: docs/graphql.md) at %d clients and at 1; "+
			"baseline: the raw one-row `INSERT` transaction of the appends section, remeasured here at %d callers and at 1. "+
			"Query: `%s` at %d clients; baseline: one pgx `SELECT` of the same 20 rows with the loaders' joins (sales rep, next appointment, deal stages). "+
			"Order: raw select, query, raw INSERT at %d, the idle count, `registerCustomer` at %d (counted: next two tables), raw INSERT at 1, `registerCustomer` at 1. "+
			"Targets: `registerCustomer` at %d clients at least 0.2x the raw INSERT, and under 8 ms p50 at 1 client; query throughput at least 0.25x the raw select. "+
			"Where the query falls short, gqlgen's executor bounds it, not SQL: "+
			"the page costs two round trips (the page, then its relations pipelined), and gqlgen's per-object and per-field work "+
			"(field contexts, field sets, the path of every object) is most of the gateway's CPU per page (docs/graphql.md, \"Performance\").",
			gwClients, gwClients, gwQuery, gwClients, gwClients, gwClients, gwClients),
		header: []string{"workload", "gateway ops/s", "gateway p50", "gateway p99", "failed", "raw ops/s", "raw p50", "raw p99", "ratio"},
		rows: [][]string{
			{fmt.Sprintf("registerCustomer vs raw INSERT, %d clients", gwClients), gwMut.rate(), gwMut.pct(0.5), gwMut.pct(0.99), failures(gwMut),
				rawIns.rate(), rawIns.pct(0.5), rawIns.pct(0.99), ratio(float64(gwMut.ok), float64(rawIns.ok))},
			{"registerCustomer vs raw INSERT, 1 client", gwMut1.rate(), gwMut1.pct(0.5), gwMut1.pct(0.99), failures(gwMut1),
				rawIns1.rate(), rawIns1.pct(0.5), rawIns1.pct(0.99), ratio(float64(gwMut1.ok), float64(rawIns1.ok))},
			{fmt.Sprintf("customers(first: 20) vs raw SELECT, %d clients", gwClients), gwSel.rate(), gwSel.pct(0.5), gwSel.pct(0.99), failures(gwSel),
				rawSel.rate(), rawSel.pct(0.5), rawSel.pct(0.99), ratio(float64(gwSel.ok), float64(rawSel.ok))},
		},
	})
	if cost.n > 0 {
		rep.add(costSection(cost, idle, gwMut))
	}
	rep.add(idleSection(idle))
	return nil
}
