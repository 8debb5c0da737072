package relationships_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/relationships"
	"crm/services/relationships/contract"
	"crm/services/relationships/domain"
	"crm/services/wire"
)

// facts is an in-memory replica of the customer area, as far as the
// service needs it; it remembers the last token it was asked with.
type facts struct {
	mu        sync.Mutex
	customers map[string]domain.CustomerFact
	lastToken wire.Token
	fail      error
}

func (f *facts) Customer(_ context.Context, id string, token wire.Token) (domain.CustomerFact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastToken = token
	if f.fail != nil {
		return 0, f.fail
	}
	return f.customers[id], nil
}

func (f *facts) add(fact domain.CustomerFact) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ids.New(ids.Customer)
	f.customers[id] = fact
	return id
}

type env struct {
	h     http.Handler
	log   *eventlog.Log
	svc   *relationships.Service
	facts *facts
}

func newEnv(t *testing.T) env {
	t.Helper()
	l, _ := kittest.Log(t)
	f := &facts{customers: map[string]domain.CustomerFact{}}
	svc := relationships.NewService(l, f)
	return env{h: kit.Mux(l, kittest.Key(), svc.Routes(slog.Default())...), log: l, svc: svc, facts: f}
}

func (e env) salesperson(t *testing.T, role, email, managerID string) string {
	t.Helper()
	body := map[string]any{"name": "Grace Hopper", "email": email, "role": role}
	if managerID != "" {
		body["managerId"] = managerID
	}
	return kittest.Post(t, e.h, "register-salesperson", body).OK(t).StreamID
}

// data decodes the event data of ev into a map.
func data(t *testing.T, ev eventlog.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSalespeopleAndAccountTeam(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := kittest.PostAs(t, e.h, "user-7", "register-salesperson", map[string]any{
		"name": " Ann  Boss ", "email": "Ann@Example.COM", "role": "MANAGER",
	}, wire.HeaderCorrelationID, "corr-1").OK(t)
	if !ids.Valid(ids.Salesperson, res.StreamID) || res.Version != 1 || res.Area != "relationships" ||
		res.Position != 2 || len(res.Events) != 2 {
		t.Fatalf("result %+v", res)
	}
	ev := res.Events[0]
	if ev.Type != domain.TypeSalespersonRegistered || ev.StreamID != res.StreamID || ev.Metadata.CorrelationID != "corr-1" ||
		ev.Metadata.Actor != "user-7" || !strings.Contains(string(ev.Data), `"email":"ann@example.com"`) ||
		!strings.Contains(string(ev.Data), `"name":"Ann Boss"`) {
		t.Fatalf("event %+v %s", ev, ev.Data)
	}
	if claim := res.Events[1]; claim.Type != domain.TypeSalespersonEmailClaimed || claim.StreamID != contract.EmailClaimStreamID("ann@example.com") {
		t.Fatalf("claim %+v", claim)
	}
	manager := res.StreamID
	rep := e.salesperson(t, "SALES_REP", "bob@example.com", manager)
	other := e.salesperson(t, "MANAGER", "cy@example.com", "")
	customer := e.facts.add(domain.ActiveCustomer)

	// Without managerId the rep's own manager manages the account.
	team := kittest.Post(t, e.h, "assign-account-team", map[string]any{"customerId": customer, "salesRepId": rep},
		wire.HeaderConsistencyToken, "customers:41").OK(t)
	if team.StreamID != customer || team.Version != 1 || len(team.Events) != 1 {
		t.Fatalf("team %+v", team)
	}
	if d := data(t, team.Events[0]); d["salesRepId"] != rep || d["managerId"] != manager {
		t.Fatalf("team event %v", d)
	}
	e.facts.mu.Lock()
	if e.facts.lastToken["customers"] != 41 {
		t.Errorf("facts asked with token %v", e.facts.lastToken)
	}
	e.facts.mu.Unlock()
	// The same team again changes nothing; another manager does.
	same := kittest.Post(t, e.h, "assign-account-team", map[string]any{"customerId": customer, "salesRepId": rep, "managerId": manager}).OK(t)
	if len(same.Events) != 0 || same.Position != 0 || same.Version != 1 {
		t.Fatalf("same team %+v", same)
	}
	moved := kittest.Post(t, e.h, "assign-account-team", map[string]any{"customerId": customer, "salesRepId": rep,
		"managerId": other, "expectedVersion": 1}).OK(t)
	if moved.Version != 2 || data(t, moved.Events[0])["managerId"] != other {
		t.Fatalf("moved %+v", moved)
	}
}

func TestInterests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := e.facts.add(domain.ActiveCustomer)
	rec := func(interest string) wire.Result {
		return kittest.Post(t, e.h, "record-interest", map[string]any{"customerId": customer, "interest": interest}).OK(t)
	}
	if r := rec("  Solar   panels "); r.Version != 1 || data(t, r.Events[0])["interest"] != "Solar panels" {
		t.Fatalf("record %+v", r)
	}
	if r := rec("SOLAR PANELS"); len(r.Events) != 0 || r.Version != 1 {
		t.Fatalf("record again %+v", r)
	}
	r := rec("Heat pumps")
	if got := fmt.Sprint(data(t, r.Events[0])["interests"]); got != "[Solar panels Heat pumps]" {
		t.Fatalf("interests %s", got)
	}
	rm := kittest.Post(t, e.h, "remove-interest", map[string]any{"customerId": customer, "interest": "solar panels", "expectedVersion": 2}).OK(t)
	if d := data(t, rm.Events[0]); rm.Version != 3 || d["interest"] != "Solar panels" || fmt.Sprint(d["interests"]) != "[Heat pumps]" {
		t.Fatalf("remove %+v %v", rm, d)
	}
	if again := kittest.Post(t, e.h, "remove-interest", map[string]any{"customerId": customer, "interest": "solar panels"}).OK(t); len(again.Events) != 0 {
		t.Fatalf("remove again %+v", again)
	}
}

func TestRefusalsRecordNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	manager := e.salesperson(t, "MANAGER", "boss@example.com", "")
	rep := e.salesperson(t, "SALES_REP", "rep@example.com", manager)
	active := e.facts.add(domain.ActiveCustomer)
	archived := e.facts.add(domain.ArchivedCustomer)
	kittest.Post(t, e.h, "record-interest", map[string]any{"customerId": active, "interest": "Boats"}).OK(t)
	before := kittest.Head(t, e.log)
	unknownSP, unknownCus := ids.New(ids.Salesperson), ids.New(ids.Customer)
	sp := func(kv ...any) map[string]any {
		m := map[string]any{"name": "Ada", "email": "ada@example.com", "role": "SALES_REP"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name, cmd string
		body      any
		code      errcode.Code
		field     string
	}{
		{"bad email", "register-salesperson", sp("email", "nope"), errcode.BadUserInput, "email"},
		{"empty name", "register-salesperson", sp("name", "  "), errcode.BadUserInput, "name"},
		{"long name", "register-salesperson", sp("name", strings.Repeat("n", 201)), errcode.BadUserInput, "name"},
		{"bad role", "register-salesperson", sp("role", "CEO"), errcode.BadUserInput, "role"},
		{"missing role", "register-salesperson", map[string]any{"name": "Ada", "email": "ada@example.com"}, errcode.BadUserInput, "role"},
		{"malformed manager", "register-salesperson", sp("managerId", "sp_1"), errcode.BadUserInput, "managerId"},
		{"customer as manager", "register-salesperson", sp("managerId", active), errcode.BadUserInput, "managerId"},
		{"unknown manager", "register-salesperson", sp("managerId", unknownSP), errcode.NotFound, "managerId"},
		{"manager is a rep", "register-salesperson", sp("managerId", rep), errcode.BadUserInput, "managerId"},
		{"email taken", "register-salesperson", sp("email", "REP@example.com"), errcode.Conflict, "email"},
		{"unknown field", "register-salesperson", sp("id", unknownSP), errcode.BadUserInput, "id"},
		{"wrong type", "register-salesperson", sp("role", 1), errcode.BadUserInput, "role"},
		{"not json", "register-salesperson", []byte(`{"name":`), errcode.BadUserInput, "body"},
		{"stale expected version on a new one", "register-salesperson", sp("expectedVersion", 3), errcode.Conflict, "expectedVersion"},
		{"team malformed customer", "assign-account-team", map[string]any{"customerId": "cus_x", "salesRepId": rep}, errcode.BadUserInput, "customerId"},
		{"team missing customer", "assign-account-team", map[string]any{"salesRepId": rep}, errcode.BadUserInput, "customerId"},
		{"team salesperson as customer", "assign-account-team", map[string]any{"customerId": rep, "salesRepId": rep}, errcode.BadUserInput, "customerId"},
		{"team missing rep", "assign-account-team", map[string]any{"customerId": active}, errcode.BadUserInput, "salesRepId"},
		{"team malformed rep", "assign-account-team", map[string]any{"customerId": active, "salesRepId": active}, errcode.BadUserInput, "salesRepId"},
		{"team malformed manager", "assign-account-team", map[string]any{"customerId": active, "salesRepId": rep, "managerId": "x"}, errcode.BadUserInput, "managerId"},
		{"team unknown customer", "assign-account-team", map[string]any{"customerId": unknownCus, "salesRepId": rep}, errcode.NotFound, "customerId"},
		{"team unknown rep", "assign-account-team", map[string]any{"customerId": active, "salesRepId": unknownSP}, errcode.NotFound, "salesRepId"},
		{"team rep is a manager", "assign-account-team", map[string]any{"customerId": active, "salesRepId": manager}, errcode.BadUserInput, "salesRepId"},
		{"team unknown manager", "assign-account-team", map[string]any{"customerId": active, "salesRepId": rep, "managerId": unknownSP}, errcode.NotFound, "managerId"},
		{"team manager is a rep", "assign-account-team", map[string]any{"customerId": active, "salesRepId": rep, "managerId": rep}, errcode.BadUserInput, "managerId"},
		{"team archived customer", "assign-account-team", map[string]any{"customerId": archived, "salesRepId": rep}, errcode.Conflict, ""},
		{"team stale expected version", "assign-account-team", map[string]any{"customerId": active, "salesRepId": rep, "expectedVersion": 0}, errcode.Conflict, "expectedVersion"},
		{"interest empty", "record-interest", map[string]any{"customerId": active, "interest": " \t"}, errcode.BadUserInput, "interest"},
		{"interest too long", "record-interest", map[string]any{"customerId": active, "interest": strings.Repeat("i", 101)}, errcode.BadUserInput, "interest"},
		{"interest control character", "record-interest", map[string]any{"customerId": active, "interest": "a\x00b"}, errcode.BadUserInput, "interest"},
		{"interest malformed customer", "record-interest", map[string]any{"customerId": "cus_" + strings.Repeat("0", 36), "interest": "x"}, errcode.BadUserInput, "customerId"},
		{"interest unknown customer", "record-interest", map[string]any{"customerId": unknownCus, "interest": "x"}, errcode.NotFound, "customerId"},
		{"interest archived customer", "record-interest", map[string]any{"customerId": archived, "interest": "x"}, errcode.Conflict, ""},
		{"interest stale expected version", "record-interest", map[string]any{"customerId": active, "interest": "x", "expectedVersion": 5}, errcode.Conflict, "expectedVersion"},
		{"interest unknown field", "record-interest", map[string]any{"customerId": active, "interest": "x", "interests": []string{"y"}}, errcode.BadUserInput, "interests"},
		{"remove empty", "remove-interest", map[string]any{"customerId": active, "interest": ""}, errcode.BadUserInput, "interest"},
		{"remove malformed customer", "remove-interest", map[string]any{"customerId": "", "interest": "Boats"}, errcode.BadUserInput, "customerId"},
		{"remove unknown customer", "remove-interest", map[string]any{"customerId": unknownCus, "interest": "Boats"}, errcode.NotFound, "customerId"},
		{"remove archived customer", "remove-interest", map[string]any{"customerId": archived, "interest": "Boats"}, errcode.Conflict, ""},
		{"remove stale expected version", "remove-interest", map[string]any{"customerId": active, "interest": "Boats", "expectedVersion": 0}, errcode.Conflict, "expectedVersion"},
		{"negative expected version", "remove-interest", map[string]any{"customerId": active, "interest": "Boats", "expectedVersion": -1}, errcode.BadUserInput, "expectedVersion"},
		{"long idempotency key", "remove-interest", map[string]any{"customerId": active, "interest": "Boats", "idempotencyKey": strings.Repeat("k", 201)}, errcode.BadUserInput, "idempotencyKey"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kittest.Post(t, e.h, c.cmd, c.body).Refused(t, c.code, c.field)
		})
	}
	kittest.Post(t, e.h, "record-interest", map[string]any{"customerId": active, "interest": "x"},
		wire.HeaderConsistencyToken, "garbage").Refused(t, errcode.BadUserInput, "consistencyToken")
	if after := kittest.Head(t, e.log); after != before {
		t.Fatalf("refusals recorded %d events", after-before)
	}
}

func TestFactsFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := e.facts.add(domain.ActiveCustomer)
	rep := e.salesperson(t, "SALES_REP", "rep@example.com", "")
	before := kittest.Head(t, e.log)
	e.facts.mu.Lock()
	e.facts.fail = errors.New("replica store: connection refused")
	e.facts.mu.Unlock()
	kittest.Post(t, e.h, "record-interest", map[string]any{"customerId": customer, "interest": "x"}).Refused(t, errcode.Unavailable, "")
	e.facts.mu.Lock()
	e.facts.fail = errcode.New(errcode.ConsistencyTimeout, "the customer replica is behind")
	e.facts.mu.Unlock()
	kittest.Post(t, e.h, "assign-account-team", map[string]any{"customerId": customer, "salesRepId": rep}).Refused(t, errcode.ConsistencyTimeout, "")
	if kittest.Head(t, e.log) != before {
		t.Fatal("a command recorded events without knowing the customer")
	}
}

func TestTooManyInterests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := e.facts.add(domain.ActiveCustomer)
	// One event carrying the full list stands for MaxInterests commands.
	full := make([]string, domain.MaxInterests)
	for i := range full {
		full[i] = fmt.Sprint("interest ", i)
	}
	raw, err := json.Marshal(domain.InterestRecorded{CustomerID: customer, Interest: full[len(full)-1], Interests: full})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Append(context.Background(), customer, 0, eventlog.Metadata{},
		eventlog.NewEvent{Type: domain.TypeInterestRecorded, Data: raw}); err != nil {
		t.Fatal(err)
	}
	before := kittest.Head(t, e.log)
	kittest.Post(t, e.h, "record-interest", map[string]any{"customerId": customer, "interest": "one more"}).Refused(t, errcode.Conflict, "interest")
	// One it has already is still fine: nothing to record.
	kittest.Post(t, e.h, "record-interest", map[string]any{"customerId": customer, "interest": "INTEREST 7"}).OK(t)
	if kittest.Head(t, e.log) != before {
		t.Fatal("recorded past the limit")
	}
}

func TestConcurrentRegistrationOfOneEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 16
	answers := make(chan kittest.Answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- kittest.Post(t, e.h, "register-salesperson", map[string]any{"name": fmt.Sprint("Racer ", i),
				"email": "Same@Example.com", "role": "SALES_REP"})
		}()
	}
	wg.Wait()
	close(answers)
	wins := 0
	for a := range answers {
		if a.Status == http.StatusOK {
			wins++
			continue
		}
		a.Refused(t, errcode.Conflict, "email")
	}
	if head := kittest.Head(t, e.log); wins != 1 || head != 2 {
		t.Fatalf("%d registrations won, log holds %d events; want 1 and 2", wins, head)
	}
}

func TestConcurrentInterestsOnOneAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := e.facts.add(domain.ActiveCustomer)
	const n = 8 // each writer loses at most n-1 races, below kit's bound of 10 attempts
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kittest.Post(t, e.h, "record-interest", map[string]any{"customerId": customer, "interest": fmt.Sprint("topic ", i)}).OK(t)
		}()
	}
	wg.Wait()
	evs, err := e.log.ReadAllStream(context.Background(), customer)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	if got := data(t, evs[n-1])["interests"].([]any); len(got) != n {
		t.Fatalf("final interests %v", got)
	}
}

func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := map[string]any{"idempotencyKey": "k-1", "name": "Ada", "email": "ada@example.com", "role": "MANAGER"}
	first := kittest.Post(t, e.h, "register-salesperson", body).OK(t)
	customer := e.facts.add(domain.ActiveCustomer)
	interest := map[string]any{"idempotencyKey": "k-1", "customerId": customer, "interest": "Boats"}
	firstInterest := kittest.Post(t, e.h, "record-interest", interest).OK(t)
	// Between the retries the interest is removed: the retry still answers
	// the first outcome instead of recording it again.
	kittest.Post(t, e.h, "remove-interest", map[string]any{"customerId": customer, "interest": "Boats"}).OK(t)
	head := kittest.Head(t, e.log)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			again := kittest.Post(t, e.h, "register-salesperson", body).OK(t)
			if !again.Duplicate || again.StreamID != first.StreamID || again.Position != first.Position || again.Version != 1 {
				t.Errorf("retry answered %+v, first %+v", again, first)
			}
		}()
		go func() {
			defer wg.Done()
			again := kittest.Post(t, e.h, "record-interest", interest).OK(t)
			if !again.Duplicate || again.StreamID != customer || again.Position != firstInterest.Position || again.Version != 1 {
				t.Errorf("retry answered %+v, first %+v", again, firstInterest)
			}
		}()
	}
	wg.Wait()
	if after := kittest.Head(t, e.log); after != head {
		t.Fatalf("retries recorded %d events", after-head)
	}
	// The same key on another command is another key.
	if other := kittest.Post(t, e.h, "remove-interest", map[string]any{"idempotencyKey": "k-1", "customerId": customer, "interest": "x"}).OK(t); other.Duplicate {
		t.Fatalf("another command's key answered %+v", other)
	}
}
