package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"crm/scripts/cluster"
)

// mutation is one mutation of the load. Its key is both its
// idempotencyKey and the marker its data carries (a name, an email, a
// location...), so the read models and the area's log can be searched for it.
type mutation struct {
	n        int
	key      string
	kind     *kind
	customer int // index of the hot customer it concerns, -1 for none
	client   int

	cluster.Outcome
	firstGW int // the gateway of the first attempt
	ackGW   int // the gateway that answered last
	// version is the entity's version in the answer (updateCustomer):
	// read-your-writes says at least that of the event it recorded.
	version int64
}

// kind is one sort of mutation of the load.
type kind struct {
	field string // the GraphQL mutation field
	area  string // the area whose log records it
	event string // the type of the entity's event it records
	// read names the read-model search that finds the marker (readSearches).
	read  string
	hot   bool // concerns a hot customer (one the subscribers follow)
	query string
	vars  func(f *fixture, m *mutation) map[string]any
	value func(m *mutation) string // the marker as the read model holds it
}

// fixture is what the load refers to: the hot customers (followed by the
// subscribers) and one salesperson per client, registered before the run.
type fixture struct {
	customers    []string
	salespersons []string
}

// slotBase starts the appointment slots: an hour per mutation number, so
// no two appointments ever overlap.
var slotBase = time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(24 * time.Hour)

func email(m *mutation) string  { return m.key + "@scale.example" }
func marker(m *mutation) string { return m.key }

var (
	kRegisterCustomer = &kind{field: "registerCustomer", area: "customers", event: "CustomerRegistered", read: "customer-email",
		query: `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`,
		vars: func(_ *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "name": "Scale " + m.key, "email": email(m)}
		},
		value: email}
	kUpdateCustomer = &kind{field: "updateCustomer", area: "customers", event: "CustomerUpdated", read: "customer-updated", hot: true,
		query: `mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { id version } }`,
		vars: func(f *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "id": f.customers[m.customer], "name": m.key}
		},
		value: marker}
	kRegisterSalesperson = &kind{field: "registerSalesperson", area: "relationships", event: "SalespersonRegistered", read: "salesperson-email",
		query: `mutation($i: RegisterSalespersonInput!) { registerSalesperson(input: $i) { id } }`,
		vars: func(_ *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "name": "Rep " + m.key, "email": email(m), "role": "SALES_REP"}
		},
		value: email}
	kRecordInterest = &kind{field: "recordInterest", area: "relationships", event: "InterestRecorded", read: "interest", hot: true,
		query: `mutation($i: RecordInterestInput!) { recordInterest(input: $i) { id } }`,
		vars: func(f *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "customerId": f.customers[m.customer], "interest": m.key}
		},
		value: marker}
	kScheduleAppointment = &kind{field: "scheduleAppointment", area: "appointments", event: "AppointmentScheduled", read: "appointment-location", hot: true,
		query: `mutation($i: ScheduleAppointmentInput!) { scheduleAppointment(input: $i) { id } }`,
		vars: func(f *fixture, m *mutation) map[string]any {
			s := slotBase.Add(time.Duration(m.n) * time.Hour)
			return map[string]any{"idempotencyKey": m.key, "customerId": f.customers[m.customer], "salespersonId": f.salespersons[m.client],
				"startsAt": s.Format(time.RFC3339), "endsAt": s.Add(30 * time.Minute).Format(time.RFC3339), "location": m.key}
		},
		value: marker}
	kCreateCampaign = &kind{field: "createCampaign", area: "campaigns", event: "CampaignCreated", read: "campaign-name",
		query: `mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { id } }`,
		vars: func(_ *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "name": m.key}
		},
		value: marker}
	kOpenDeal = &kind{field: "openDeal", area: "campaigns", event: "DealOpened", read: "deal-product", hot: true,
		query: `mutation($i: OpenDealInput!) { openDeal(input: $i) { id } }`,
		vars: func(f *fixture, m *mutation) map[string]any {
			return map[string]any{"idempotencyKey": m.key, "customerId": f.customers[m.customer], "product": m.key,
				"value": map[string]any{"amount": "100.00", "currencyCode": "EUR"}}
		},
		value: marker}
)

// mix is the load's cycle: every area; half of it updateCustomer on the
// hot customers, whose pushes the subscribers time.
var mix = []*kind{kUpdateCustomer, kRegisterCustomer, kUpdateCustomer, kRecordInterest, kUpdateCustomer, kScheduleAppointment,
	kUpdateCustomer, kOpenDeal, kUpdateCustomer, kCreateCampaign, kUpdateCustomer, kRegisterSalesperson}

// client is one load client: it sends through its home gateway and fails
// over to another when that one stops answering (a transport error), and
// goes home again once its home answers /readyz.
type client struct {
	id, home int
	gqls     []*cluster.GQLClient // one per gateway
	cur      atomic.Int32         // the gateway it sends through now
	mu       sync.Mutex
	failedAt time.Time // first transport error while at home (zero: never)
}

// load sends the mutations and remembers every one.
type load struct {
	run         string
	retryWindow time.Duration
	gws         []*cluster.Gateway
	clients     []*client
	fix         fixture

	mu      sync.Mutex
	muts    []*mutation
	count   atomic.Int64
	updates atomic.Int64 // hot-customer mutations so far, to spread them evenly
}

func newLoad(run string, retryWindow time.Duration, gws []*cluster.Gateway, perGateway int) *load {
	l := &load{run: run, retryWindow: retryWindow, gws: gws}
	for i := 0; i < perGateway*len(gws); i++ {
		c := &client{id: i, home: i % len(gws)}
		for _, g := range gws {
			c.gqls = append(c.gqls, cluster.NewGQLClient(g, 30*time.Second))
		}
		c.cur.Store(int32(c.home))
		l.clients = append(l.clients, c)
	}
	return l
}

// prefix starts every marker of the run.
func (l *load) prefix() string { return "sc" + l.run + "-" }

func (l *load) newMutation(k *kind, c *client) *mutation {
	n := int(l.count.Add(1))
	m := &mutation{n: n, key: fmt.Sprintf("%s%d", l.prefix(), n), kind: k, customer: -1, client: c.id}
	if k.hot {
		m.customer = int(l.updates.Add(1)-1) % len(l.fix.customers)
	}
	l.mu.Lock()
	l.muts = append(l.muts, m)
	l.mu.Unlock()
	return m
}

func (l *load) all() []*mutation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*mutation(nil), l.muts...)
}

// do sends m until its outcome is known (cluster.Outcome.Send). A
// transport error sends it again at once through another gateway with the
// same idempotencyKey (the client fails over); CONSISTENCY_TIMEOUT,
// INTERNAL and uncoded errors, and later transport errors, are retried
// after a backoff.
func (l *load) do(ctx context.Context, c *client, m *mutation) {
	var gw int
	r := m.Send(ctx, l.retryWindow, func() (cluster.GQLResponse, error) {
		gw = int(c.cur.Load())
		if m.Attempts == 1 {
			m.firstGW = gw
		}
		m.ackGW = gw
		return c.gqls[gw].Do(ctx, m.kind.query, map[string]any{"i": m.kind.vars(&l.fix, m)})
	}, func() bool {
		c.failover(gw, len(l.gws))
		return m.Transport == 1 // at once, through the other gateway
	})
	if m.Result == cluster.Acked {
		var got struct{ Version int64 }
		if json.Unmarshal(r.Data[m.kind.field], &got) == nil {
			m.version = got.Version
		}
	}
}

// failover moves c off gateway gw (after a transport error there) to the
// next one, unless another mutation of c already moved it.
func (c *client) failover(gw, n int) {
	if c.cur.CompareAndSwap(int32(gw), int32((gw+1)%n)) && gw == c.home {
		c.mu.Lock()
		if c.failedAt.IsZero() {
			c.failedAt = time.Now()
		}
		c.mu.Unlock()
	}
}

// goHome returns every client that failed over to its home gateway once
// that answers /readyz; it runs until ctx ends.
func (l *load) goHome(ctx context.Context) {
	probe := &http.Client{Timeout: time.Second}
	for ctx.Err() == nil {
		up := map[int]bool{}
		for _, c := range l.clients {
			if int(c.cur.Load()) == c.home {
				continue
			}
			ok, seen := up[c.home]
			if !seen {
				ok = ready(ctx, probe, l.gws[c.home].URL)
				up[c.home] = ok
			}
			if ok {
				c.cur.Store(int32(c.home))
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func ready(ctx context.Context, hc *http.Client, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// setup registers the hot customers and one salesperson per client
// through the first gateway.
func (l *load) setup(ctx context.Context, hot int) error {
	l.fix.customers = make([]string, hot)
	l.fix.salespersons = make([]string, len(l.clients))
	type job struct {
		k   *kind
		dst *string
	}
	var jobs []job
	for i := range l.fix.customers {
		jobs = append(jobs, job{kRegisterCustomer, &l.fix.customers[i]})
	}
	for i := range l.fix.salespersons {
		jobs = append(jobs, job{kRegisterSalesperson, &l.fix.salespersons[i]})
	}
	gql := l.clients[0].gqls[0]
	sem := make(chan struct{}, 8)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			key := fmt.Sprintf("%sfix%d", l.prefix(), i)
			m := &mutation{key: key, kind: j.k}
			r, err := gql.Do(ctx, j.k.query, map[string]any{"i": j.k.vars(&l.fix, m)})
			if err == nil && r.Code() != "" {
				err = fmt.Errorf("%s: %s", r.Code(), r.Errors[0].Message)
			}
			var got struct{ ID string }
			if err == nil {
				if err = json.Unmarshal(r.Data[j.k.field], &got); err == nil && got.ID == "" {
					err = fmt.Errorf("no id in %s", r.Data[j.k.field])
				}
			}
			if err != nil {
				errs[i] = fmt.Errorf("setup %s %s: %w", j.k.field, key, err)
				return
			}
			*j.dst = got.ID
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

// drive runs every client at rate/len(clients) mutations per second,
// open-loop (a mutation starts on schedule whether or not the previous
// ones answered, at most maxInflight at a time per client), until ctx
// ends or stop is closed. It returns once every mutation has its outcome.
func (l *load) drive(ctx context.Context, stop <-chan struct{}, rate float64, maxInflight int) {
	per := rate / float64(len(l.clients))
	interval := time.Duration(float64(time.Second) / per)
	var all sync.WaitGroup
	for _, c := range l.clients {
		all.Add(1)
		go func() {
			defer all.Done()
			sem := make(chan struct{}, maxInflight)
			var wg sync.WaitGroup
			defer wg.Wait()
			// Clients start spread over one interval, not all at once.
			next := time.Now().Add(interval * time.Duration(c.id) / time.Duration(len(l.clients)))
			for k := c.id; ; k++ {
				select {
				case <-ctx.Done():
					return
				case <-stop:
					return
				case <-time.After(time.Until(next)):
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				case <-stop:
					return
				}
				m := l.newMutation(mix[k%len(mix)], c)
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					l.do(ctx, c, m)
				}()
				next = next.Add(interval)
				if behind := time.Since(next); behind > 2*time.Second {
					next = time.Now() // do not burst to catch up after a stall
				}
			}
		}()
	}
	all.Wait()
}
