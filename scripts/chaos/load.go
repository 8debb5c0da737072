package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"crm/scripts/cluster"
)

// mutation is one mutation of the load, tracked by its marker: the
// idempotency key, which also appears in the entity's data (an email, a
// name, a location...) so the read models and the area's log can be
// searched for it.
type mutation struct {
	n     int
	key   string // marker and idempotency key
	kind  *kind
	phase int

	cluster.Outcome
	data json.RawMessage // the answer's data field when acked
}

// kind is one sort of mutation in the load.
type kind struct {
	field string // the GraphQL mutation field
	area  string // the area whose log records it
	event string // the type of the entity's event it records
	bad   bool   // invalid by design: must be refused and leave no trace
	// read names the read-model search that finds the marker (readSearches).
	read  string
	query string
	vars  func(f *fixture, m *mutation) map[string]any
	value func(m *mutation) string // the marker as it appears in the read model
}

// fixture is what a client's mutations refer to: a customer and a
// salesperson registered before any fault.
type fixture struct {
	customerID, salespersonID string
}

// slotBase is the start of the appointment slots: one hour per mutation
// number, so no two appointments ever overlap.
var slotBase = time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(24 * time.Hour)

func slot(m *mutation) (time.Time, time.Time) {
	s := slotBase.Add(time.Duration(m.n) * time.Hour)
	return s, s.Add(30 * time.Minute)
}

func email(m *mutation) string { return m.key + "@chaos.example" }

var (
	kRegisterCustomer = &kind{field: "registerCustomer", area: "customers", event: "CustomerRegistered", read: "customer-email",
		query: `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`,
		vars: func(_ *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "name": "Chaos " + m.key, "email": email(m)}
		},
		value: email}
	kRegisterSalesperson = &kind{field: "registerSalesperson", area: "relationships", event: "SalespersonRegistered", read: "salesperson-email",
		query: `mutation($i: RegisterSalespersonInput!) { registerSalesperson(input: $i) { id } }`,
		vars: func(_ *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "name": "Rep " + m.key, "email": email(m), "role": "SALES_REP"}
		},
		value: email}
	kRecordInterest = &kind{field: "recordInterest", area: "relationships", event: "InterestRecorded", read: "interest",
		query: `mutation($i: RecordInterestInput!) { recordInterest(input: $i) { id } }`,
		vars: func(f *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "customerId": f.customerID, "interest": m.key}
		},
		value: func(m *mutation) string { return m.key }}
	kScheduleAppointment = &kind{field: "scheduleAppointment", area: "appointments", event: "AppointmentScheduled", read: "appointment-location",
		query: `mutation($i: ScheduleAppointmentInput!) { scheduleAppointment(input: $i) { id } }`,
		vars: func(f *fixture, m *mutation) map[string]any {
			s, e := slot(m)
			return map[string]any{"idempotencyKey": m.key, "customerId": f.customerID, "salespersonId": f.salespersonID,
				"startsAt": s.Format(time.RFC3339), "endsAt": e.Format(time.RFC3339), "location": m.key}
		},
		value: func(m *mutation) string { return m.key }}
	kCreateCampaign = &kind{field: "createCampaign", area: "campaigns", event: "CampaignCreated", read: "campaign-name",
		query: `mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { id } }`,
		vars: func(_ *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "name": m.key}
		},
		value: func(m *mutation) string { return m.key }}
	kOpenDeal = &kind{field: "openDeal", area: "campaigns", event: "DealOpened", read: "deal-product",
		query: `mutation($i: OpenDealInput!) { openDeal(input: $i) { id } }`,
		vars: func(f *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "customerId": f.customerID, "product": m.key,
				"value": map[string]any{"amount": "100.00", "currencyCode": "EUR"}}
		},
		value: func(m *mutation) string { return m.key }}
	// Deliberately bad: a malformed email, an appointment ending before it starts.
	kBadEmail = &kind{field: "registerCustomer", area: "customers", event: "*", read: "customer-name", bad: true,
		query: kRegisterCustomer.query,
		vars: func(_ *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "name": m.key, "email": "not-an-email-" + m.key}
		},
		value: func(m *mutation) string { return m.key }}
	kBadTimes = &kind{field: "scheduleAppointment", area: "appointments", event: "*", read: "appointment-location", bad: true,
		query: kScheduleAppointment.query,
		vars: func(f *fixture, m *mutation) map[string]any {
			s, e := slot(m)
			return map[string]any{"idempotencyKey": m.key, "customerId": f.customerID, "salespersonId": f.salespersonID,
				"startsAt": e.Format(time.RFC3339), "endsAt": s.Format(time.RFC3339), "location": m.key}
		},
		value: func(m *mutation) string { return m.key }}
)

// mix is the load's cycle of mutation kinds: every area, two of six
// areas' worth of writes depending on another area's data, one in six bad.
var mix = []*kind{kRegisterCustomer, kRecordInterest, kScheduleAppointment, kOpenDeal, kRegisterSalesperson, kBadEmail,
	kCreateCampaign, kRegisterCustomer, kScheduleAppointment, kOpenDeal, kRecordInterest, kBadTimes}

// client is one load client: its own gateway connection and fixture.
type client struct {
	id  int
	gql *cluster.GQLClient
	fix fixture
}

// load drives the mutations and remembers every one of them.
type load struct {
	run         string // the run's id, in every marker
	retryWindow time.Duration
	clients     []*client

	mu    sync.Mutex
	muts  []*mutation
	count atomic.Int64

	inflight map[string]*atomic.Int64 // requests waiting on the gateway, by area
}

func newLoad(run string, retryWindow time.Duration, gws []*cluster.Gateway, clients int) *load {
	l := &load{run: run, retryWindow: retryWindow, inflight: map[string]*atomic.Int64{}}
	for _, a := range cluster.Areas {
		l.inflight[a] = &atomic.Int64{}
	}
	for i := 0; i < clients; i++ {
		l.clients = append(l.clients, &client{id: i, gql: cluster.NewGQLClient(gws[i%len(gws)], 30*time.Second)})
	}
	return l
}

// prefix starts every marker of the run.
func (l *load) prefix() string { return "ch" + l.run + "-" }

func (l *load) newMutation(k *kind, phase int) *mutation {
	n := int(l.count.Add(1))
	m := &mutation{n: n, key: fmt.Sprintf("%s%d", l.prefix(), n), kind: k, phase: phase}
	l.mu.Lock()
	l.muts = append(l.muts, m)
	l.mu.Unlock()
	return m
}

// all returns the mutations so far.
func (l *load) all() []*mutation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*mutation(nil), l.muts...)
}

// do sends m until its outcome is known (cluster.Outcome.Send), through
// c's gateway, counting it in flight for its area while it waits.
func (l *load) do(ctx context.Context, c *client, m *mutation) {
	in := l.inflight[m.kind.area]
	r := m.Send(ctx, l.retryWindow, func() (cluster.GQLResponse, error) {
		in.Add(1)
		defer in.Add(-1)
		return c.gql.Do(ctx, m.kind.query, map[string]any{"i": m.kind.vars(&c.fix, m)})
	}, nil)
	if m.Result == cluster.Acked {
		m.data = r.Data[m.kind.field]
	}
}

// setup registers each client's customer and salesperson.
func (l *load) setup(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(l.clients))
	for i, c := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, k := range []*kind{kRegisterCustomer, kRegisterSalesperson} {
				m := l.newMutation(k, 0)
				l.do(ctx, c, m)
				var got struct{ ID string }
				if m.Result != cluster.Acked || json.Unmarshal(m.data, &got) != nil || got.ID == "" {
					errs[i] = fmt.Errorf("client %d: %s: outcome %d %s", c.id, k.field, m.Result, m.LastErr)
					return
				}
				if k == kRegisterCustomer {
					c.fix.customerID = got.ID
				} else {
					c.fix.salespersonID = got.ID
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// phase runs the clients until at least n mutations are sent and
// faultDone is closed (at most 4n mutations), closing trigger once n/3
// have been sent so the fault strikes while the load runs.
func (l *load) phase(ctx context.Context, phase, n int, trigger chan<- struct{}, faultDone <-chan struct{}) {
	var sent atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for _, c := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s := int(sent.Add(1))
				if s > 4*n {
					return
				}
				if s > n {
					select {
					case <-faultDone:
						return
					default:
					}
				}
				if s >= n/3 {
					once.Do(func() { close(trigger) })
				}
				m := l.newMutation(mix[int(l.count.Load())%len(mix)], phase)
				l.do(ctx, c, m)
			}
		}()
	}
	wg.Wait()
	once.Do(func() { close(trigger) })
}
