package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog/testenv"
	"crm/scripts/cluster"
)

// TestTopologyFitsStockPostgres runs the documented multi-process topology
// (README "Connections": a service per area, 2 projectors, 1 gateway, then
// crm verify), each area and the read side in a database of its own,
// without CRM_DB_MAX_CONNS, and checks that the processes' pools add up
// to well under what a stock PostgreSQL (max_connections 100) offers, that
// a burst of concurrent mutations and queries succeeds, and that no
// process ever held more sessions than its budget (pg_stat_activity,
// sampled during the whole run).
func TestTopologyFitsStockPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := os.Getenv("CRM_TOPOLOGY_BIN")
	if bin == "" {
		var err error
		if bin, err = cluster.Build(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	// The server is shared: wait for room for the whole topology.
	need := waitForRoom(t, 30*time.Second)
	// The sampler starts before the cluster, so the start-up counts too.
	samples := startSampler(t, "crm_topo_")
	// An empty CRM_DB_MAX_CONNS counts as unset: every pool takes its
	// kind's default.
	c, err := cluster.Start(ctx, cluster.Config{Bin: bin, Dir: dir, AdminURL: testenv.AdminURL(), Prefix: "crm_topo", Projectors: 2, Gateways: 1,
		Env: []string{"CRM_DB_MAX_CONNS="}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	}()
	samples.only(c.ID)

	// The budget, from the same functions the processes size their pools with.
	cfg := configFromEnv(envFunc(c.Env()...))
	if cfg.DBMaxConns != 0 {
		t.Fatalf("CRM_DB_MAX_CONNS still set: %d", cfg.DBMaxConns)
	}
	budget := map[string]int32{} // application_name → sessions, over all processes
	var total int32
	add := func(b []poolBudget, times int32) {
		for _, p := range b {
			budget[p.Name] += p.Size * times
			total += p.Size * times
		}
	}
	for _, area := range areas {
		add(processBudget(cfg, "service", area), 1)
	}
	add(processBudget(cfg, "projector", ""), 2)
	add(processBudget(cfg, "gateway", ""), 1)
	add(processBudget(cfg, "verify", ""), 1)
	if total != need {
		t.Errorf("budget %d, but %d was waited for", total, need)
	}
	maxConns, reserved := serverLimits(t)
	limit := (maxConns - reserved) * 3 / 4
	t.Logf("budget: %d sessions (limit %d: three quarters of max_connections %d - superuser_reserved_connections %d): %v",
		total, limit, maxConns, reserved, budget)
	if total > limit {
		t.Errorf("the topology may take %d sessions, more than %d", total, limit)
	}

	// A burst: 6 clients at once, each registering a customer and a
	// salesperson, assigning, scheduling, dealing (a won deal reaches
	// relationships by reaction), archiving (appointments and campaigns
	// react) and reading pages with relations in between.
	gql := cluster.NewGQLClient(c.Gateways[0], 30*time.Second)
	do := func(query string, field string) (json.RawMessage, error) {
		r, err := gql.Do(ctx, query, nil)
		if err != nil {
			return nil, err
		}
		if len(r.Errors) > 0 {
			return nil, fmt.Errorf("%s: %s: %s", field, r.Code(), r.Errors[0].Message)
		}
		return r.Data[field], nil
	}
	id := func(query, field string) (string, error) {
		raw, err := do(query, field)
		if err != nil {
			return "", err
		}
		var v struct{ ID string }
		if err := json.Unmarshal(raw, &v); err != nil || v.ID == "" {
			return "", fmt.Errorf("%s: no id in %s", field, raw)
		}
		return v.ID, nil
	}
	start := time.Now()
	const clients = 6
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	var mu sync.Mutex
	ops := 0
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := topologyClient(i, id, do)
			mu.Lock()
			ops += n
			mu.Unlock()
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d mutations and queries by %d clients in %v", ops, clients, time.Since(start).Round(time.Millisecond))
	if _, err := cluster.Settled(ctx, gql, 30*time.Second); err != nil {
		t.Error(err)
	}
	if res, took, err := c.Verify(ctx); err != nil || res != "pass" {
		t.Errorf("crm verify: %s (%v): %v", res, took, err)
	}
	if err := c.Dead(); err != nil {
		t.Error(err)
	}
	peak, peakBy := samples.stop()
	t.Logf("peak sessions on the topology's databases: %d of %d budgeted; per application_name (peak/budget): %s",
		peak, total, peakTable(peakBy, budget))
	if int32(peak) > total {
		t.Errorf("%d sessions at once, more than the %d budgeted", peak, total)
	}
	for name, n := range peakBy {
		if b, ok := budget[name]; ok && int32(n) > b {
			t.Errorf("%s: %d sessions at once, budget %d", name, n, b)
		}
	}
	// Meeting the server's limit is this topology's fault only when it
	// went past its budget (checked above); otherwise the neighbours on the
	// shared server filled it.
	for _, p := range c.Processes() {
		if tail := p.Tail(1 << 20); strings.Contains(tail, "53300") || strings.Contains(tail, "too many clients") {
			if int32(peak) > total {
				t.Errorf("%s met the server's connection limit:\n%s", p.Name, p.Tail(2000))
			} else {
				t.Logf("%s met the server's connection limit while the topology stayed within its budget (the server is shared)", p.Name)
			}
		}
	}
}

// topologyClient is one client of the burst; it returns the operations it
// ran.
func topologyClient(i int, id func(q, field string) (string, error), do func(q, field string) (json.RawMessage, error)) (int, error) {
	n := 0
	step := func(err error) error { n++; return err }
	cus, err := id(fmt.Sprintf(`mutation { registerCustomer(input: {name: "Topo %d", email: "topo%d@example.com"}) { id } }`, i, i), "registerCustomer")
	if err := step(err); err != nil {
		return n, err
	}
	rep, err := id(fmt.Sprintf(`mutation { registerSalesperson(input: {name: "Rep %d", email: "rep%d@example.com", role: SALES_REP}) { id } }`, i, i), "registerSalesperson")
	if err := step(err); err != nil {
		return n, err
	}
	starts := time.Now().Add(time.Duration(72+i) * time.Hour).UTC().Truncate(time.Hour)
	mutations := []struct{ query, field string }{
		{fmt.Sprintf(`mutation { updateCustomer(input: {id: %q, name: "Topo %d bis"}) { id name } }`, cus, i), "updateCustomer"},
		{fmt.Sprintf(`mutation { assignAccountTeam(input: {customerId: %q, salesRepId: %q}) { id salesRep { id } } }`, cus, rep), "assignAccountTeam"},
		{fmt.Sprintf(`mutation { recordInterest(input: {customerId: %q, interest: "Solar"}) { id interests } }`, cus), "recordInterest"},
		{fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "HQ"}) { id status } }`,
			cus, rep, starts.Format(time.RFC3339), starts.Add(time.Hour).Format(time.RFC3339)), "scheduleAppointment"},
		{`{ customers(first: 20) { totalCount edges { node { id name salesRep { name } nextAppointment { id } } } } }`, "customers"},
	}
	for _, m := range mutations {
		if _, err := do(m.query, m.field); step(err) != nil {
			return n, err
		}
	}
	deal, err := id(fmt.Sprintf(`mutation { openDeal(input: {customerId: %q, product: "Heat pump %d", value: {amount: "100.00", currencyCode: "EUR"}}) { id } }`, cus, i), "openDeal")
	if err := step(err); err != nil {
		return n, err
	}
	if _, err := do(fmt.Sprintf(`mutation { winDeal(input: {id: %q}) { stage } }`, deal), "winDeal"); step(err) != nil {
		return n, err
	}
	// The won deal's product reaches the customer through relationships'
	// reaction and the projector.
	for deadline := time.Now().Add(20 * time.Second); ; {
		raw, err := do(fmt.Sprintf(`{ customer(id: %q) { products wonDealTotal { amount } } }`, cus), "customer")
		if step(err) != nil {
			return n, err
		}
		if strings.Contains(string(raw), "Heat pump") {
			break
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("won deal's product never reached the customer: %s", raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := do(fmt.Sprintf(`mutation { openDeal(input: {customerId: %q, product: "Battery", value: {amount: "5.00", currencyCode: "EUR"}}) { id } }`, cus), "openDeal"); step(err) != nil {
		return n, err
	}
	if _, err := do(fmt.Sprintf(`mutation { archiveCustomer(input: {id: %q, reason: "moved"}) { status } }`, cus), "archiveCustomer"); step(err) != nil {
		return n, err
	}
	// Archiving cancels the future appointment (appointments' reaction).
	for deadline := time.Now().Add(20 * time.Second); ; {
		raw, err := do(fmt.Sprintf(`{ customer(id: %q) { status openDealCount appointments(first: 5) { edges { node { status } } } } }`, cus), "customer")
		if step(err) != nil {
			return n, err
		}
		if strings.Contains(string(raw), "CANCELLED") && strings.Contains(string(raw), `"openDealCount":0`) {
			break
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("archiving did not cancel the appointment and lose the deal: %s", raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n, nil
}

// topologyBudget is the documented topology's budget with cfg: a service
// per area, 2 projectors, 1 gateway and crm verify.
func topologyBudget(cfg Config) int32 {
	n := 2*budgetTotal(processBudget(cfg, "projector", "")) + budgetTotal(processBudget(cfg, "gateway", "")) +
		budgetTotal(processBudget(cfg, "verify", ""))
	for _, area := range areas {
		n += budgetTotal(processBudget(cfg, "service", area))
	}
	return n
}

// waitForRoom waits until the shared server has free connections for the
// topology (a database per component, no CRM_DB_MAX_CONNS) and returns its
// budget; when others keep it too busy for within, the test fails: a skip
// would prove nothing (under make test nothing else holds connections).
func waitForRoom(t *testing.T, within time.Duration) int32 {
	t.Helper()
	urls := []string{}
	for _, c := range append(append([]string{}, areas...), readComponent) {
		urls = append(urls, "CRM_"+strings.ToUpper(c)+"_DATABASE_URL=postgres://h/"+c)
	}
	need := topologyBudget(configFromEnv(envFunc(urls...)))
	ctx, cancel := context.WithTimeout(context.Background(), within+10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var free int32
	for deadline := time.Now().Add(within); ; {
		if err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
			- (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')`).Scan(&free); err != nil {
			t.Fatal(err)
		}
		if free >= need {
			return need
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shared PostgreSQL has %d free connections after 30 s; the topology may take %d", free, need)
		}
		time.Sleep(time.Second)
	}
}

// serverLimits reads max_connections and superuser_reserved_connections.
func serverLimits(t *testing.T) (int32, int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var maxConns, reserved int32
	if err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int`).
		Scan(&maxConns, &reserved); err != nil {
		t.Fatal(err)
	}
	return maxConns, reserved
}

// sampler counts the sessions on databases whose names start with a
// prefix every 50 ms, keeping the peak in all and per application_name.
type sampler struct {
	mu     sync.Mutex
	prefix string
	peak   int
	peakBy map[string]int
	done   chan struct{}
	ended  chan struct{}
}

func startSampler(t *testing.T, prefix string) *sampler {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	s := &sampler{prefix: prefix, peakBy: map[string]int{}, done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		defer conn.Close(context.Background())
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			s.sample(conn)
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { s.stop() })
	return s
}

// only narrows the sampling to one cluster's databases.
func (s *sampler) only(id string) {
	s.mu.Lock()
	s.prefix += id + "_"
	s.mu.Unlock()
}

func (s *sampler) sample(conn *pgx.Conn) {
	s.mu.Lock()
	prefix := s.prefix
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, `SELECT application_name, count(*)::int FROM pg_stat_activity
		WHERE starts_with(datname, $1) GROUP BY 1`, prefix)
	if err != nil {
		return
	}
	by := map[string]int{}
	all := 0
	for rows.Next() {
		var name string
		var n int
		if rows.Scan(&name, &n) == nil {
			by[name] = n
			all += n
		}
	}
	rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = max(s.peak, all)
	for name, n := range by {
		s.peakBy[name] = max(s.peakBy[name], n)
	}
}

// stop ends the sampling and returns the peaks.
func (s *sampler) stop() (int, map[string]int) {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
	<-s.ended
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.peakBy
}

func peakTable(peak map[string]int, budget map[string]int32) string {
	var names []string
	for n := range peak {
		names = append(names, n)
	}
	for n := range budget {
		if _, ok := peak[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		label := n
		if label == "" {
			label = "(none)"
		}
		if bud, ok := budget[n]; ok {
			fmt.Fprintf(&b, "%s %d/%d, ", label, peak[n], bud)
		} else {
			fmt.Fprintf(&b, "%s %d/-, ", label, peak[n])
		}
	}
	return strings.TrimSuffix(b.String(), ", ")
}
