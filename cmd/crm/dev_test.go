package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
	"crm/graph/auth"
)

// system is `crm dev` running in this test process (run on port 0).
type system struct {
	url   string // http://127.0.0.1:PORT
	token string // an admin's bearer token
	stop  func()
}

// startDev runs `crm dev` on a fresh database and Redis namespace, with
// extra environment variables (NAME=value) if any.
func startDev(t *testing.T, extra ...string) (*system, []string) {
	t.Helper()
	dbURL := testenv.Database(t)
	_, ns := testenv.Redis(t) // the namespace is deleted at cleanup
	// The tests' clients all sign in as one admin: the per-user limits are
	// lifted unless extra sets them (TestLimits). A service key of the
	// test's own, so that a second process (crm gateway) shares it.
	env := append([]string{"CRM_DATABASE_URL=" + dbURL, "CRM_NAMESPACE=" + ns, "CRM_HTTP_ADDR=127.0.0.1:0", "CRM_REDIS_URL=" + testenv.RedisURL(),
		"CRM_RATE_MUTATIONS=off", "CRM_RATE_QUERY_POINTS=off", "CRM_MAX_SOCKETS_PER_USER=off", "CRM_MAX_SUBSCRIPTIONS_PER_USER=off",
		"CRM_SERVICE_KEY=" + svcauth.NewSecret()}, extra...)
	s := startCmd(t, env, "dev")
	var err error
	if s.token, err = auth.DevToken(context.Background(), nil, s.url, "admin"); err != nil {
		t.Fatal(err)
	}
	s.settle(t)
	return s, env
}

// startGateway runs `crm gateway` beside dev (env is dev's), trusting
// dev's issuer; its requests carry dev's admin token.
func startGateway(t *testing.T, dev *system, env []string) *system {
	t.Helper()
	s := startCmd(t, append(append([]string{}, env...), "CRM_AUTH_ISSUER="+dev.url+auth.DevPath, "CRM_METRICS=on"), "gateway")
	s.token = dev.token
	return s
}

// post posts a GraphQL request body with the system's token and headers.
func (s *system) post(body io.Reader, headers ...map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, s.url+"/graphql", body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	for _, h := range headers {
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	return http.DefaultClient.Do(req)
}

// settle waits until every projection has caught up with the (empty)
// logs, so the first mutation's wait does not include the start-up.
func (s *system) settle(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		var ps []struct {
			Name, State string
			Lag         int
		}
		r := s.gql(t, `{ projections { name state lag } }`, nil)
		if len(r.Errors) > 0 {
			return fmt.Errorf("%+v", r.Errors)
		}
		json.Unmarshal(r.Data["projections"], &ps)
		for _, p := range ps {
			if p.State != "RUNNING" || p.Lag != 0 {
				return fmt.Errorf("projection %s: %s, lag %d", p.Name, p.State, p.Lag)
			}
		}
		if len(ps) == 0 {
			return fmt.Errorf("no projections")
		}
		return nil
	})
}

// startCmd runs a crm subcommand that serves the gateway, in this process,
// until the test ends, and returns the gateway's base URL.
func startCmd(t *testing.T, envKV []string, args ...string) *system {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := envFunc(envKV...)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, args, env, pw, &lockedWriter{w: &stderr}); pw.Close() }()
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "GraphQL: "); ok {
				url <- strings.TrimSuffix(u, "/graphql")
			}
		}
	}()
	s := &system{}
	select {
	case s.url = <-url:
	case err := <-done:
		t.Fatalf("crm dev stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("crm %v did not start", args)
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("crm %v stopped with %v", args, err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (s *system) gql(t *testing.T, query string, vars map[string]any) gqlResponse {
	t.Helper()
	return s.gqlDo(t, query, vars, nil)
}

// gqlWith runs query with extra request headers.
func (s *system) gqlWith(t *testing.T, query string, headers map[string]string) gqlResponse {
	t.Helper()
	return s.gqlDo(t, query, nil, headers)
}

func (s *system) gqlDo(t *testing.T, query string, vars map[string]any, headers map[string]string) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := s.post(bytes.NewReader(body), headers)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r gqlResponse) ok(t *testing.T, field string, into any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("%s: errors %+v", field, r.Errors)
	}
	if err := json.Unmarshal(r.Data[field], into); err != nil {
		t.Fatalf("%s: %v (%s)", field, err, r.Data[field])
	}
}

func (r gqlResponse) code(t *testing.T, code, field string) {
	t.Helper()
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != code || (field != "" && r.Errors[0].Extensions["field"] != field) {
		t.Fatalf("errors %+v, want %s on %q", r.Errors, code, field)
	}
}

// wsClient speaks graphql-transport-ws (or, with legacy, graphql-ws).
type wsClient struct {
	c      *websocket.Conn
	legacy bool
}

func dialWS(t *testing.T, s *system, legacy bool) *wsClient {
	t.Helper()
	proto := "graphql-transport-ws"
	if legacy {
		proto = "graphql-ws"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := openWS(ctx, s, proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{c: c, legacy: legacy}
}

// openWS dials the gateway's WebSocket with subprotocol proto and waits
// for the answer to connection_init; it may run outside the test's
// goroutine.
func openWS(ctx context.Context, s *system, proto string) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		return nil, err
	}
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]any{"correlationId": "ws-test",
		"authorization": "Bearer " + s.token}})
	if err := c.Write(ctx, websocket.MessageText, init); err != nil {
		c.CloseNow()
		return nil, err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, err
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		switch m["type"] {
		case "connection_ack":
			return c, nil
		case "ka", "ping", "pong":
			continue
		}
		c.CloseNow()
		return nil, fmt.Errorf("init answered %s", b)
	}
}

func (w *wsClient) send(t *testing.T, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := w.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func (w *wsClient) read(t *testing.T) map[string]any {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, b, err := w.c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("websocket read: %v", err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["type"] == "ping" {
			// graphql-transport-ws: a ping unanswered for an interval
			// makes the server close the socket (a slow run lasts that long).
			w.send(t, map[string]any{"type": "pong"})
		}
		if m["type"] == "ka" || m["type"] == "ping" || m["type"] == "pong" {
			continue
		}
		return m
	}
}

func (w *wsClient) subscribe(t *testing.T, id, query string) {
	t.Helper()
	typ := "subscribe"
	if w.legacy {
		typ = "start"
	}
	w.send(t, map[string]any{"id": id, "type": typ, "payload": map[string]any{"query": query}})
}

// next returns the data of the next push.
func (w *wsClient) next(t *testing.T) map[string]any {
	t.Helper()
	m := w.read(t)
	want := "next"
	if w.legacy {
		want = "data"
	}
	if m["type"] != want {
		t.Fatalf("got %v, want a %s message", m, want)
	}
	return m["payload"].(map[string]any)["data"].(map[string]any)
}

const customerFields = `id name email status version salesRep { name } interests upcomingAppointmentCount nextAppointment { id } openDealCount`

// The whole system in one process: each mutation, then the query showing
// its effect, then the subscription push it caused, over both WebSocket
// subprotocols; read-your-writes on every answer; bad input refused with
// its code.
func TestDevEndToEnd(t *testing.T) {
	s, _ := startDev(t) // not parallel: a whole system per test is load enough

	var rep, other struct{ ID string }
	s.gql(t, `mutation($i: RegisterSalespersonInput!) { registerSalesperson(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Grace", "email": "grace@example.com", "role": "SALES_REP"}}).ok(t, "registerSalesperson", &rep)
	var cus struct {
		ID      string
		Name    string
		Version int
	}
	s.gql(t, `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id name version } }`,
		map[string]any{"i": map[string]any{"name": "Ada", "email": "ada@example.com", "idempotencyKey": "k1"}}).ok(t, "registerCustomer", &cus)
	s.gql(t, `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Bob", "email": "bob@example.com"}}).ok(t, "registerCustomer", &other)
	var again struct{ ID string }
	s.gql(t, `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Ada", "email": "ada@example.com", "idempotencyKey": "k1"}}).ok(t, "registerCustomer", &again)
	if again.ID != cus.ID {
		t.Fatalf("retry with the same key answered %s, first %s", again.ID, cus.ID)
	}

	modern, legacy := dialWS(t, s, false), dialWS(t, s, true)
	sub := fmt.Sprintf(`subscription { customerChanged(id: %q) { %s } }`, cus.ID, customerFields)
	modern.subscribe(t, "1", sub)
	legacy.subscribe(t, "1", sub)
	otherSub := dialWS(t, s, false)
	otherSub.subscribe(t, "x", fmt.Sprintf(`subscription { customerChanged(id: %q) { id } }`, other.ID))

	from := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Hour)
	steps := []struct {
		name, query string
		input       map[string]any
		check       func(c map[string]any) bool
	}{
		{"updateCustomer", `mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { id } }`,
			map[string]any{"id": cus.ID, "name": "Ada Lovelace", "expectedVersion": 1},
			func(c map[string]any) bool { return c["name"] == "Ada Lovelace" }},
		{"assignAccountTeam", `mutation($i: AssignAccountTeamInput!) { assignAccountTeam(input: $i) { id salesRep { name } } }`,
			map[string]any{"customerId": cus.ID, "salesRepId": rep.ID},
			func(c map[string]any) bool {
				sr, _ := c["salesRep"].(map[string]any)
				return sr != nil && sr["name"] == "Grace"
			}},
		{"recordInterest", `mutation($i: RecordInterestInput!) { recordInterest(input: $i) { id } }`,
			map[string]any{"customerId": cus.ID, "interest": "Heat pumps"},
			func(c map[string]any) bool { return fmt.Sprint(c["interests"]) == "[Heat pumps]" }},
		{"scheduleAppointment", `mutation($i: ScheduleAppointmentInput!) { scheduleAppointment(input: $i) { id } }`,
			map[string]any{"customerId": cus.ID, "salespersonId": rep.ID, "startsAt": from.Format(time.RFC3339),
				"endsAt": from.Add(time.Hour).Format(time.RFC3339), "location": "Office"},
			func(c map[string]any) bool {
				return c["upcomingAppointmentCount"] == 1.0 && c["nextAppointment"] != nil
			}},
		{"openDeal", `mutation($i: OpenDealInput!) { openDeal(input: $i) { id } }`,
			map[string]any{"customerId": cus.ID, "product": "Heat pump", "value": map[string]any{"amount": "9000.00", "currencyCode": "EUR"}},
			func(c map[string]any) bool { return c["openDealCount"] == 1.0 }},
	}
	for _, st := range steps {
		var got struct {
			ID       string
			SalesRep *struct{ Name string }
		}
		s.gql(t, st.query, map[string]any{"i": st.input}).ok(t, st.name, &got)
		// A mutation's answer carries the relations it selects, as applied.
		if st.name == "assignAccountTeam" && (got.SalesRep == nil || got.SalesRep.Name != "Grace") {
			t.Fatalf("assignAccountTeam answered salesRep %+v", got.SalesRep)
		}
		// The query right after the mutation shows its effect.
		var c map[string]any
		s.gql(t, fmt.Sprintf(`{ customer(id: %q) { %s } }`, cus.ID, customerFields), nil).ok(t, "customer", &c)
		if !st.check(c) {
			t.Fatalf("%s: query after the mutation shows %v", st.name, c)
		}
		// Both subscribers get a push with the new state (possibly after
		// pushes of earlier commits of the same change).
		for _, w := range []*wsClient{modern, legacy} {
			deadline := time.Now().Add(15 * time.Second)
			for {
				push := w.next(t)["customerChanged"].(map[string]any)
				if push["id"] != cus.ID {
					t.Fatalf("%s: push for another customer: %v", st.name, push)
				}
				if st.check(push) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: no push with the new state", st.name)
				}
			}
		}
	}

	// Read-your-writes: every mutation's next query sees it.
	for i := 0; i < 200; i++ {
		name := fmt.Sprint("Ada ", i)
		s.gql(t, `mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"id": cus.ID, "name": name}}).ok(t, "updateCustomer", &struct{}{})
		var c struct{ Name string }
		s.gql(t, fmt.Sprintf(`{ customer(id: %q) { name } }`, cus.ID), nil).ok(t, "customer", &c)
		if c.Name != name {
			t.Fatalf("read %q after writing %q", c.Name, name)
		}
	}

	// Bad input: a coded error.
	s.gql(t, `mutation { registerCustomer(input: {name: "X", email: "not-an-email"}) { id } }`, nil).code(t, "BAD_USER_INPUT", "email")
	s.gql(t, fmt.Sprintf(`mutation { updateCustomer(input: {id: %q, name: "Y", expectedVersion: 1}) { id } }`, cus.ID), nil).code(t, "CONFLICT", "expectedVersion")
	s.gql(t, `mutation { archiveCustomer(input: {id: "cus_00000000-0000-4000-8000-000000000000"}) { id } }`, nil).code(t, "NOT_FOUND", "")
	s.gql(t, fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "x"}) { id } }`,
		cus.ID, rep.ID, from.Add(5*time.Hour).Format(time.RFC3339), from.Add(4*time.Hour).Format(time.RFC3339)), nil).code(t, "BAD_USER_INPUT", "endsAt")

	// The other customer's subscriber heard nothing about Ada.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	for {
		_, b, err := otherSub.c.Read(ctx)
		if err != nil {
			break // nothing more within the window
		}
		if !strings.Contains(string(b), `"ping"`) && !strings.Contains(string(b), `"pong"`) {
			t.Fatalf("other customer's subscriber got %s", b)
		}
	}
}

// Two gateway processes share the read side: a mutation through one is
// pushed to subscribers of both.
func TestTwoGatewaysBothPush(t *testing.T) {
	a, env := startDev(t)
	b := startGateway(t, a, env)
	var cus struct{ ID string }
	a.gql(t, `mutation { registerCustomer(input: {name: "Ada", email: "ada@example.com"}) { id } }`, nil).ok(t, "registerCustomer", &cus)
	var subs []*wsClient
	for _, s := range []*system{a, b} {
		w := dialWS(t, s, false)
		w.subscribe(t, "1", fmt.Sprintf(`subscription { customerChanged(id: %q) { id name } }`, cus.ID))
		subs = append(subs, w)
	}
	// Subscriptions start asynchronously: update until both have a push.
	pushed := make([]chan struct{}, len(subs))
	for j, w := range subs {
		pushed[j] = make(chan struct{})
		go func() {
			for {
				_, msg, err := w.c.Read(context.Background()) // ends when the test closes the conn
				if err != nil {
					return
				}
				if strings.Contains(string(msg), `"next"`) && strings.Contains(string(msg), cus.ID) {
					close(pushed[j])
					return
				}
			}
		}()
	}
	got := make([]bool, len(subs))
	for i := 0; i < 40 && !(got[0] && got[1]); i++ {
		a.gql(t, fmt.Sprintf(`mutation { updateCustomer(input: {id: %q, name: "Ada %d"}) { id } }`, cus.ID, i), nil).ok(t, "updateCustomer", &struct{}{})
		deadline := time.After(250 * time.Millisecond)
		for j := range subs {
			select {
			case <-pushed[j]:
				got[j] = true
			case <-deadline:
				deadline = closedChan // the window is over for the rest too
			}
		}
	}
	if !got[0] || !got[1] {
		t.Fatalf("pushes received by gateway A: %v, by gateway B: %v", got[0], got[1])
	}
}

// closedChan is always ready.
var closedChan = func() <-chan time.Time { c := make(chan time.Time); close(c); return c }()

// heads reads every area's log head straight from the dev database.
func heads(t *testing.T, dbURL string) map[string]int64 {
	t.Helper()
	pool := testenv.Pool(t, dbURL)
	out := map[string]int64{}
	for _, a := range areas {
		var h int64
		if err := pool.QueryRow(context.Background(), "SELECT coalesce(max(position), 0) FROM "+a+".events").Scan(&h); err != nil {
			t.Fatal(err)
		}
		out[a] = h
	}
	return out
}

// waitPush reads pushes of one subscription until check accepts one.
func (w *wsClient) waitPush(t *testing.T, field string, check func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		v, _ := w.next(t)[field].(map[string]any)
		if v != nil && check(v) {
			return v
		}
	}
	t.Fatalf("no %s push passed the check", field)
	return nil
}

// Every other contract mutation: the mutation, the query showing its
// effect, the subscription push it caused; refusals leave the logs alone.
func TestDevAllOperations(t *testing.T) {
	s, env := startDev(t)
	dbURL := strings.TrimPrefix(env[0], "CRM_DATABASE_URL=")
	id := func(r gqlResponse, field string) string {
		var v struct{ ID string }
		r.ok(t, field, &v)
		return v.ID
	}
	mgr := id(s.gql(t, `mutation { registerSalesperson(input: {name: "Mia", email: "mia@example.com", role: MANAGER}) { id } }`, nil), "registerSalesperson")
	rep := id(s.gql(t, fmt.Sprintf(`mutation { registerSalesperson(input: {name: "Rex", email: "rex@example.com", role: SALES_REP, managerId: %q}) { id manager { id } } }`, mgr), nil), "registerSalesperson")
	cus := id(s.gql(t, `mutation { registerCustomer(input: {name: "Ada", email: "ada@example.com"}) { id } }`, nil), "registerCustomer")

	apts, deals, events := dialWS(t, s, false), dialWS(t, s, true), dialWS(t, s, false)
	apts.subscribe(t, "a", fmt.Sprintf(`subscription { appointmentChanged(customerId: %q) { id status location customer { id } salesperson { name } } }`, cus))
	deals.subscribe(t, "d", fmt.Sprintf(`subscription { dealChanged(customerId: %q) { id stage lostReason value { amount currencyCode } } }`, cus))
	events.subscribe(t, "e", `subscription { eventRecorded(areas: [CUSTOMERS]) { area streamId type version } }`)

	q := func(query string, field string, into any) { s.gql(t, query, nil).ok(t, field, into) }
	future := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	past := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Hour)
	ts := func(tm time.Time) string { return tm.Format(time.RFC3339) }

	// Appointments: schedule, reschedule, cancel; a past one completed.
	a1 := id(s.gql(t, fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "HQ"}) { id status } }`,
		cus, rep, ts(future), ts(future.Add(time.Hour))), nil), "scheduleAppointment")
	apts.waitPush(t, "appointmentChanged", func(v map[string]any) bool { return v["id"] == a1 && v["status"] == "SCHEDULED" })
	var apt struct{ Location, Status string }
	s.gql(t, fmt.Sprintf(`mutation { rescheduleAppointment(input: {id: %q, startsAt: %q, endsAt: %q, location: "Cafe"}) { id } }`,
		a1, ts(future.Add(2*time.Hour)), ts(future.Add(3*time.Hour))), nil).ok(t, "rescheduleAppointment", &struct{}{})
	q(fmt.Sprintf(`{ appointment(id: %q) { location status } }`, a1), "appointment", &apt)
	if apt.Location != "Cafe" {
		t.Fatalf("after reschedule: %+v", apt)
	}
	apts.waitPush(t, "appointmentChanged", func(v map[string]any) bool { return v["location"] == "Cafe" })
	s.gql(t, fmt.Sprintf(`mutation { cancelAppointment(input: {id: %q, reason: "ill"}) { id } }`, a1), nil).ok(t, "cancelAppointment", &struct{}{})
	q(fmt.Sprintf(`{ appointment(id: %q) { location status } }`, a1), "appointment", &apt)
	if apt.Status != "CANCELLED" {
		t.Fatalf("after cancel: %+v", apt)
	}
	apts.waitPush(t, "appointmentChanged", func(v map[string]any) bool { return v["status"] == "CANCELLED" })
	a2 := id(s.gql(t, fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "HQ"}) { id } }`,
		cus, rep, ts(past), ts(past.Add(time.Hour))), nil), "scheduleAppointment")
	s.gql(t, fmt.Sprintf(`mutation { completeAppointment(input: {id: %q, notes: "signed"}) { id status notes } }`, a2), nil).ok(t, "completeAppointment", &apt)
	if apt.Status != "COMPLETED" {
		t.Fatalf("after complete: %+v", apt)
	}
	apts.waitPush(t, "appointmentChanged", func(v map[string]any) bool { return v["id"] == a2 && v["status"] == "COMPLETED" })

	// Campaigns and deals.
	cmp := id(s.gql(t, `mutation { createCampaign(input: {name: "Spring"}) { id status } }`, nil), "createCampaign")
	var camp struct {
		Status string
		Offers []struct{ ID, Product string }
	}
	s.gql(t, fmt.Sprintf(`mutation { launchCampaign(input: {id: %q}) { status } }`, cmp), nil).ok(t, "launchCampaign", &camp)
	if camp.Status != "ACTIVE" {
		t.Fatalf("after launch: %+v", camp)
	}
	s.gql(t, fmt.Sprintf(`mutation { addOffer(input: {campaignId: %q, product: "Heat pump", discountPercent: 15}) { status offers { id product } } }`, cmp), nil).ok(t, "addOffer", &camp)
	if len(camp.Offers) != 1 {
		t.Fatalf("after addOffer: %+v", camp)
	}
	d1 := id(s.gql(t, fmt.Sprintf(`mutation { openDeal(input: {customerId: %q, campaignId: %q, offerId: %q, product: "Heat pump", value: {amount: "9000.00", currencyCode: "EUR"}}) { id } }`,
		cus, cmp, camp.Offers[0].ID), nil), "openDeal")
	deals.waitPush(t, "dealChanged", func(v map[string]any) bool { return v["id"] == d1 && v["stage"] == "OPEN" })
	var deal struct{ Stage string }
	s.gql(t, fmt.Sprintf(`mutation { winDeal(input: {id: %q}) { stage } }`, d1), nil).ok(t, "winDeal", &deal)
	if deal.Stage != "WON" {
		t.Fatalf("after win: %+v", deal)
	}
	deals.waitPush(t, "dealChanged", func(v map[string]any) bool { return v["id"] == d1 && v["stage"] == "WON" })
	d2 := id(s.gql(t, fmt.Sprintf(`mutation { openDeal(input: {customerId: %q, product: "Battery", value: {amount: "10", currencyCode: "JPY"}}) { id } }`, cus), nil), "openDeal")
	s.gql(t, fmt.Sprintf(`mutation { loseDeal(input: {id: %q, reason: "price"}) { stage lostReason } }`, d2), nil).ok(t, "loseDeal", &deal)
	deals.waitPush(t, "dealChanged", func(v map[string]any) bool { return v["id"] == d2 && v["lostReason"] == "price" })
	s.gql(t, fmt.Sprintf(`mutation { endCampaign(input: {id: %q}) { status } }`, cmp), nil).ok(t, "endCampaign", &camp)
	if camp.Status != "ENDED" {
		t.Fatalf("after end: %+v", camp)
	}
	// The won deal's product reaches the customer through the reaction.
	testenv.Eventually(t, 20*time.Second, func() error {
		var c struct{ Products []string }
		q(fmt.Sprintf(`{ customer(id: %q) { products } }`, cus), "customer", &c)
		if fmt.Sprint(c.Products) != "[Heat pump]" {
			return fmt.Errorf("products %v", c.Products)
		}
		return nil
	})

	// Interests, then archiving (pushed as a customers-area event).
	s.gql(t, fmt.Sprintf(`mutation { recordInterest(input: {customerId: %q, interest: "Solar"}) { id } }`, cus), nil).ok(t, "recordInterest", &struct{}{})
	var c struct {
		Interests []string
		Status    string
	}
	s.gql(t, fmt.Sprintf(`mutation { removeInterest(input: {customerId: %q, interest: "solar"}) { interests } }`, cus), nil).ok(t, "removeInterest", &c)
	if len(c.Interests) != 0 {
		t.Fatalf("after removeInterest: %+v", c)
	}
	s.gql(t, fmt.Sprintf(`mutation { archiveCustomer(input: {id: %q, reason: "moved"}) { status } }`, cus), nil).ok(t, "archiveCustomer", &c)
	if c.Status != "ARCHIVED" {
		t.Fatalf("after archive: %+v", c)
	}
	events.waitPush(t, "eventRecorded", func(v map[string]any) bool { return v["type"] == "CustomerArchived" && v["streamId"] == cus })

	// Refusals leave every area's log as it was.
	other := id(s.gql(t, `mutation { registerCustomer(input: {name: "Bo", email: "bo@example.com"}) { id } }`, nil), "registerCustomer")
	before := heads(t, dbURL)
	for _, c := range []struct{ query, code, field string }{
		{`mutation { registerCustomer(input: {name: "X", email: "nope"}) { id } }`, "BAD_USER_INPUT", "email"},
		{fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "x"}) { id } }`,
			cus, rep, ts(future.Add(5*time.Hour)), ts(future.Add(4*time.Hour))), "BAD_USER_INPUT", "endsAt"},
		{`mutation { winDeal(input: {id: "deal_00000000-0000-4000-8000-000000000000"}) { id } }`, "NOT_FOUND", ""},
		{fmt.Sprintf(`mutation { updateCustomer(input: {id: %q, name: "Y", expectedVersion: 7}) { id } }`, other), "CONFLICT", "expectedVersion"},
		{fmt.Sprintf(`mutation { updateCustomer(input: {id: %q, name: "Y"}) { id } }`, cus), "CONFLICT", ""},
		{"{ customers { edges { node { salesRep { " + strings.Repeat("manager { ", 12) + "id" + strings.Repeat(" }", 12) + " } } } } }", "BAD_USER_INPUT", "query"},
	} {
		s.gql(t, c.query, nil).code(t, c.code, c.field)
	}
	big := `{"query":"mutation { registerCustomer(input: {name: \"` + strings.Repeat("a", 2<<20) + `\", email: \"a@b.co\"}) { id } }"}`
	resp, err := s.post(strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: HTTP %d", resp.StatusCode)
	}
	if after := heads(t, dbURL); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("refusals changed the logs: %v -> %v", before, after)
	}
}
