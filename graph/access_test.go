package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"crm/eventlog/ids"
	"crm/eventlog/svcauth"
	"crm/graph/svc"
	"crm/services/wire"
)

// accessWorld is seedWorld plus a salesperson outside the manager's team
// (zed) with a customer (carol), her appointment and deal, and an event
// feed with every kind of stream.
type accessWorld struct {
	world
	zed, carol, aptCarol, dealCarol string
	// as maps a column of the table to the principalHeader of its role.
	as map[string]string
}

// roleColumns are the principals the table tests, in its column order.
var roleColumns = []string{"admin", "manager", "sales", "marketing", "viewer", "none"}

func seedAccess(e *env) accessWorld {
	w := accessWorld{world: seedWorld(e), zed: ids.New(ids.Salesperson), carol: ids.New(ids.Customer),
		aptCarol: ids.New(ids.Appointment), dealCarol: ids.New(ids.Deal)}
	e.exec(`INSERT INTO {{.schema}}.salespeople (id, name, email, role, manager_id, version, created_at) VALUES
		($1, 'Zed Zero', 'zed@example.com', 'SALES_REP', NULL, 1, now())`, w.zed)
	e.exec(`INSERT INTO {{.schema}}.customers (id, registered, name, email, status, version, created_at, updated_at, sales_rep_id)
		VALUES ($1, true, 'Carol Clark', 'carol@example.com', 'ACTIVE', 1, now(), now(), $2)`, w.carol, w.zed)
	e.exec(`INSERT INTO {{.schema}}.appointments (id, registered, customer_id, customer_name, salesperson_id, salesperson_name,
		starts_at, ends_at, location, status, version, created_at, updated_at) VALUES
		($1, true, $2, 'Carol Clark', $3, 'Zed Zero', $4::timestamptz, $4::timestamptz + interval '1 hour', 'Harbour', 'SCHEDULED', 1, now(), now())`,
		w.aptCarol, w.carol, w.zed, w.t0)
	e.exec(`INSERT INTO {{.schema}}.deals (id, customer_id, campaign_id, sales_rep_id, product, amount, currency, stage, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'canoe', 10, 'EUR', 'OPEN', 1, now(), now())`, w.dealCarol, w.carol, w.cmp, w.zed)
	// The feed: each area from position 1, in time order; types name
	// what each event is about.
	e.exec(`DELETE FROM {{.schema}}.events`)
	e.exec(`INSERT INTO {{.schema}}.events (area, position, id, stream_id, version, type, data, occurred_at, actor) VALUES
		('customers', 1, 'e1', $1, 1, 'AliceRegistered', '{"email":"alice@example.com"}', '2029-01-01T00:00:01Z', 'u1'),
		('customers', 2, 'e2', $2, 1, 'BobRegistered', '{"email":"bob@sample.org"}', '2029-01-01T00:00:02Z', 'u1'),
		('customers', 3, 'e3', $3, 1, 'CarolRegistered', '{"email":"carol@example.com"}', '2029-01-01T00:00:03Z', 'u1'),
		('relationships', 1, 'e4', $4, 1, 'RexRegistered', '{}', '2029-01-01T00:00:04Z', 'u1'),
		('relationships', 2, 'e5', $1, 1, 'AliceTeam', '{}', '2029-01-01T00:00:05Z', 'u1'),
		('relationships', 3, 'e6', $3, 1, 'CarolTeam', '{}', '2029-01-01T00:00:06Z', 'u1'),
		('appointments', 1, 'e7', $5, 1, 'Apt1Scheduled', '{}', '2029-01-01T00:00:07Z', 'u1'),
		('appointments', 2, 'e8', $6, 1, 'AptCarolScheduled', '{}', '2029-01-01T00:00:08Z', 'u1'),
		('campaigns', 1, 'e9', $7, 1, 'CampaignCreated', '{}', '2029-01-01T00:00:09Z', 'u1'),
		('campaigns', 2, 'e10', $8, 1, 'Deal1Opened', '{}', '2029-01-01T00:00:10Z', 'u1'),
		('campaigns', 3, 'e11', $9, 1, 'DealCarolOpened', '{}', '2029-01-01T00:00:11Z', 'u1')`,
		w.alice, w.bob, w.carol, w.rep, w.apt1, w.aptCarol, w.cmp, w.deal1, w.dealCarol)
	w.as = map[string]string{"admin": "admin", "manager": "manager:" + w.manager, "sales": "sales:" + w.rep,
		"marketing": "marketing", "viewer": "viewer", "none": "none"}
	return w
}

// fakeServices answers every command with the entity it names (so that
// the mutation can read it back) and records what it was sent.
type fakeServices struct {
	srv     *httptest.Server
	mu      sync.Mutex
	sent    []string          // command name and the credential's actor
	created map[string]string // the entity a creating command answers
	key     *svcauth.Key
}

func newFakeServices(t *testing.T) *fakeServices {
	f := &fakeServices{key: svcauth.Random()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, wire.CommandsPrefix)
		actor, err := f.key.Verify(svcauth.BearerToken(r))
		if err != nil {
			t.Errorf("%s without a valid credential: %v", name, err)
		}
		f.mu.Lock()
		f.sent = append(f.sent, name+" by "+actor)
		id := f.created[name]
		f.mu.Unlock()
		var in map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &in)
		for _, k := range []string{"id", "customerId", "campaignId"} {
			if s, ok := in[k].(string); ok && id == "" {
				id = s
			}
		}
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]any{"area": "x", "streamId": id, "version": 1, "position": 0, "events": []any{}})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServices) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.sent
	f.sent = nil
	return out
}

func withServices(f *fakeServices) envOption {
	return func(c *Config) {
		urls := map[string]string{}
		for _, a := range []string{"customers", "relationships", "appointments", "campaigns"} {
			urls[a] = f.srv.URL
		}
		c.Resolver.Commands = svc.New(urls, nil, f.key)
		c.Resolver.Applied = func(context.Context, string, string, int, int64) error { return nil }
	}
}

// accessCase is one operation of the table and what each role gets: a
// JSON of the data it answers, or the code of its one error.
type accessCase struct {
	name  string
	query string
	vars  func(w accessWorld) map[string]any
	want  func(w accessWorld) [6]string // in roleColumns order
}

const (
	forbidden = "FORBIDDEN"
	unauth    = "UNAUTHENTICATED"
)

func noVars(accessWorld) map[string]any { return nil }

func same(v string) func(accessWorld) [6]string {
	return func(accessWorld) [6]string { return [6]string{v, v, v, v, v, unauth} }
}

// queryCases: every query, with rows some roles may not see.
var queryCases = []accessCase{
	{"customers: pages and totalCount follow the scope",
		`{customers(first: 100) {totalCount edges {node {name}}}}`, noVars,
		func(accessWorld) [6]string {
			all := `{"customers":{"totalCount":3,"edges":[{"node":{"name":"Alice Adams"}},{"node":{"name":"Bob Brown"}},{"node":{"name":"Carol Clark"}}]}}`
			return [6]string{all,
				`{"customers":{"totalCount":2,"edges":[{"node":{"name":"Alice Adams"}},{"node":{"name":"Bob Brown"}}]}}`,
				`{"customers":{"totalCount":1,"edges":[{"node":{"name":"Alice Adams"}}]}}`,
				all, all, unauth}
		}},
	{"customers: hasNextPage of a scoped list",
		`query($after: String) {customers(first: 1, after: $after) {totalCount edges {node {name}} pageInfo {hasNextPage}}}`,
		noVars,
		func(accessWorld) [6]string {
			return [6]string{
				`{"customers":{"totalCount":3,"edges":[{"node":{"name":"Alice Adams"}}],"pageInfo":{"hasNextPage":true}}}`,
				`{"customers":{"totalCount":2,"edges":[{"node":{"name":"Alice Adams"}}],"pageInfo":{"hasNextPage":true}}}`,
				`{"customers":{"totalCount":1,"edges":[{"node":{"name":"Alice Adams"}}],"pageInfo":{"hasNextPage":false}}}`,
				`{"customers":{"totalCount":3,"edges":[{"node":{"name":"Alice Adams"}}],"pageInfo":{"hasNextPage":true}}}`,
				`{"customers":{"totalCount":3,"edges":[{"node":{"name":"Alice Adams"}}],"pageInfo":{"hasNextPage":true}}}`,
				unauth}
		}},
	{"customers: a search matches emails only for roles that see them",
		`{customers(filter: {search: "sample.org"}) {totalCount}}`, noVars,
		func(accessWorld) [6]string {
			return [6]string{`{"customers":{"totalCount":1}}`, `{"customers":{"totalCount":1}}`, `{"customers":{"totalCount":0}}`,
				`{"customers":{"totalCount":0}}`, `{"customers":{"totalCount":0}}`, unauth}
		}},
	{"customer: personal data",
		`query($id: ID!) {customer(id: $id) {name email phone address {city}}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.alice} },
		func(accessWorld) [6]string {
			a := `{"customer":{"name":"Alice Adams","email":"alice@example.com","phone":"+49 1","address":{"city":"Berlin"}}}`
			return [6]string{a, a, a, forbidden, forbidden, unauth}
		}},
	{"customer: personal data through a fragment on a node",
		`query($id: ID!) {node(id: $id) {... on Customer {name ...c}}} fragment c on Customer {phone}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.alice} },
		func(accessWorld) [6]string {
			a := `{"node":{"name":"Alice Adams","phone":"+49 1"}}`
			return [6]string{a, a, a, forbidden, forbidden, unauth}
		}},
	{"customer: by id outside the scope is null",
		`query($id: ID!) {customer(id: $id) {name} node(id: $id) {id}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.bob} },
		func(w accessWorld) [6]string {
			b := `{"customer":{"name":"Bob Brown"},"node":{"id":"` + w.bob + `"}}`
			return [6]string{b, b, `{"customer":null,"node":null}`, b, b, unauth}
		}},
	{"salesperson: customers of another rep within the scope only",
		`query($id: ID!) {salesperson(id: $id) {name customers {totalCount}}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.zed} },
		func(accessWorld) [6]string {
			return [6]string{`{"salesperson":{"name":"Zed Zero","customers":{"totalCount":1}}}`,
				`{"salesperson":{"name":"Zed Zero","customers":{"totalCount":0}}}`,
				`{"salesperson":{"name":"Zed Zero","customers":{"totalCount":0}}}`,
				`{"salesperson":{"name":"Zed Zero","customers":{"totalCount":1}}}`,
				`{"salesperson":{"name":"Zed Zero","customers":{"totalCount":1}}}`, unauth}
		}},
	{"salespeople", `{salespeople(role: MANAGER) {name}}`, noVars, same(`{"salespeople":[{"name":"Mia Manager"}]}`)},
	{"appointments: own ones for sales, the team's for a manager, none for marketing",
		`{appointments(first: 100) {totalCount edges {node {location}}}}`, noVars,
		func(accessWorld) [6]string {
			all := `{"appointments":{"totalCount":4,"edges":[{"node":{"location":"Office"}},{"node":{"location":"Cafe"}},{"node":{"location":"Zoom"}},{"node":{"location":"Harbour"}}]}}`
			return [6]string{all,
				`{"appointments":{"totalCount":3,"edges":[{"node":{"location":"Office"}},{"node":{"location":"Cafe"}},{"node":{"location":"Zoom"}}]}}`,
				`{"appointments":{"totalCount":2,"edges":[{"node":{"location":"Office"}},{"node":{"location":"Zoom"}}]}}`,
				forbidden, all, unauth}
		}},
	{"appointment: by id",
		`query($id: ID!) {appointment(id: $id) {location}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.apt2} },
		func(accessWorld) [6]string {
			a := `{"appointment":{"location":"Cafe"}}`
			return [6]string{a, a, `{"appointment":null}`, forbidden, a, unauth}
		}},
	{"customer: nested appointments and deals follow their own scopes",
		`query($id: ID!) {customer(id: $id) {appointments {totalCount} deals {product} nextAppointment {location}}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.alice} },
		func(accessWorld) [6]string {
			deals := `"deals":[{"product":"yacht"},{"product":"dinghy"}]`
			return [6]string{
				`{"customer":{"appointments":{"totalCount":2},` + deals + `,"nextAppointment":{"location":"Office"}}}`,
				`{"customer":{"appointments":{"totalCount":2},` + deals + `,"nextAppointment":{"location":"Office"}}}`,
				`{"customer":{"appointments":{"totalCount":1},` + deals + `,"nextAppointment":{"location":"Office"}}}`,
				`{"customer":{"appointments":{"totalCount":0},` + deals + `,"nextAppointment":null}}`,
				`{"customer":{"appointments":{"totalCount":2},` + deals + `,"nextAppointment":{"location":"Office"}}}`,
				unauth}
		}},
	{"campaign: its deals within the scope",
		`query($id: ID!) {campaign(id: $id) {name deals {product}}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.cmp} },
		func(accessWorld) [6]string {
			all := `{"campaign":{"name":"Spring","deals":[{"product":"yacht"},{"product":"canoe"}]}}`
			own := `{"campaign":{"name":"Spring","deals":[{"product":"yacht"}]}}`
			return [6]string{all, own, own, all, all, unauth}
		}},
	{"campaigns", `{campaigns(status: DRAFT) {name}}`, noVars, same(`{"campaigns":[{"name":"Draft"}]}`)},
	{"deal: by id outside the scope is null",
		`query($id: ID!) {deal(id: $id) {product}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.dealCarol} },
		func(accessWorld) [6]string {
			d := `{"deal":{"product":"canoe"}}`
			return [6]string{d, `{"deal":null}`, `{"deal":null}`, d, d, unauth}
		}},
	{"projections: admins only", `{projections {name}}`, noVars,
		func(accessWorld) [6]string {
			return [6]string{"UNAVAILABLE", forbidden, forbidden, forbidden, forbidden, unauth}
		}},
	{"events: the feed hides what the role may not see, actor for admins only",
		`{events(first: 100) {edges {node {type actor}}}}`, noVars,
		func(accessWorld) [6]string {
			ev := func(actor string, types ...string) string {
				parts := make([]string, len(types))
				for i, t := range types {
					parts[i] = `{"node":{"type":"` + t + `","actor":` + actor + `}}`
				}
				return `{"events":{"edges":[` + strings.Join(parts, ",") + `]}}`
			}
			return [6]string{
				ev(`"u1"`, "AliceRegistered", "BobRegistered", "CarolRegistered", "RexRegistered", "AliceTeam", "CarolTeam",
					"Apt1Scheduled", "AptCarolScheduled", "CampaignCreated", "Deal1Opened", "DealCarolOpened"),
				ev("null", "AliceRegistered", "BobRegistered", "RexRegistered", "AliceTeam", "Apt1Scheduled", "CampaignCreated", "Deal1Opened"),
				ev("null", "AliceRegistered", "RexRegistered", "AliceTeam", "Apt1Scheduled", "CampaignCreated", "Deal1Opened"),
				ev("null", "RexRegistered", "AliceTeam", "CarolTeam", "CampaignCreated", "Deal1Opened", "DealCarolOpened"),
				ev("null", "RexRegistered", "AliceTeam", "CarolTeam", "Apt1Scheduled", "AptCarolScheduled", "CampaignCreated",
					"Deal1Opened", "DealCarolOpened"),
				unauth}
		}},
	{"customer: history without the events of hidden areas",
		`query($id: ID!) {customer(id: $id) {history {edges {node {type}}}}}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.alice} },
		func(accessWorld) [6]string {
			full := `{"customer":{"history":{"edges":[{"node":{"type":"AliceRegistered"}},{"node":{"type":"AliceTeam"}}]}}}`
			part := `{"customer":{"history":{"edges":[{"node":{"type":"AliceTeam"}}]}}}`
			return [6]string{full, full, full, part, part, unauth}
		}},
	{"introspection (__typename) without a principal", `{__typename}`, noVars,
		func(accessWorld) [6]string {
			v := `{"__typename":"Query"}`
			return [6]string{v, v, v, v, v, v}
		}},
}

// TestAccessQueries runs every query of the table as every role against
// the real handler and read model.
func TestAccessQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedAccess(e)
	for _, c := range queryCases {
		want := c.want(w)
		for i, role := range roleColumns {
			r := e.postAs(w.as[role], c.query, c.vars(w))
			checkAnswer(t, c.name+" as "+role, r, want[i])
		}
	}
}

// checkAnswer holds an answer to want: a code of its one error, or the
// JSON of its data.
func checkAnswer(t *testing.T, name string, r gqlResponse, want string) {
	t.Helper()
	if !strings.HasPrefix(want, "{") {
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != want {
			t.Errorf("%s: want %s, got data %s errors %+v", name, want, r.Data, r.Errors)
		}
		if want == forbidden || want == unauth {
			if string(r.Data) != "" && string(r.Data) != "null" {
				t.Errorf("%s: refused with data %s", name, r.Data)
			}
		}
		return
	}
	if len(r.Errors) > 0 {
		t.Errorf("%s: errors %+v", name, r.Errors)
		return
	}
	var got, exp bytes.Buffer
	if err := json.Compact(&got, r.Data); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := json.Compact(&exp, []byte(want)); err != nil {
		t.Fatalf("%s: bad want: %v", name, err)
	}
	if got.String() != exp.String() {
		t.Errorf("%s:\n got %s\nwant %s", name, got.String(), exp.String())
	}
}

// mutationCase is one mutation on a row: allowed ones reach the service
// (the fake answers with the row), denied ones FORBIDDEN with nothing sent.
type mutationCase struct {
	name, input string // the mutation and its input as GraphQL
	vars        func(w accessWorld) map[string]any
	want        [5]bool // admin, manager, sales, marketing, viewer: allowed
}

var mutationCases = []mutationCase{
	{"registerCustomer", `{name: "New", email: "new@example.com"}`, noVars, [5]bool{true, true, true, false, false}},
	{"updateCustomer", `{id: $id, name: "Al"}`, idOf(func(w accessWorld) string { return w.alice }), [5]bool{true, true, true, false, false}},
	{"updateCustomer", `{id: $id, name: "Bo"}`, idOf(func(w accessWorld) string { return w.bob }), [5]bool{true, true, false, false, false}},
	{"updateCustomer", `{id: $id, name: "Ca"}`, idOf(func(w accessWorld) string { return w.carol }), [5]bool{true, false, false, false, false}},
	{"archiveCustomer", `{id: $id}`, idOf(func(w accessWorld) string { return w.bob }), [5]bool{true, true, false, false, false}},
	{"registerSalesperson", `{name: "N", email: "n@example.com", role: SALES_REP}`, noVars, [5]bool{true, false, false, false, false}},
	{"assignAccountTeam", `{customerId: $id, salesRepId: "sp_x"}`, idOf(func(w accessWorld) string { return w.alice }), [5]bool{true, true, false, false, false}},
	{"assignAccountTeam", `{customerId: $id, salesRepId: "sp_x"}`, idOf(func(w accessWorld) string { return w.carol }), [5]bool{true, false, false, false, false}},
	{"recordInterest", `{customerId: $id, interest: "golf"}`, idOf(func(w accessWorld) string { return w.alice }), [5]bool{true, true, true, false, false}},
	{"removeInterest", `{customerId: $id, interest: "golf"}`, idOf(func(w accessWorld) string { return w.bob }), [5]bool{true, true, false, false, false}},
	{"scheduleAppointment", `{customerId: $id, salespersonId: $sp, startsAt: "2030-01-01T10:00:00Z", endsAt: "2030-01-01T11:00:00Z", location: "X"}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.alice, "sp": w.rep} }, [5]bool{true, true, true, false, false}},
	{"scheduleAppointment", `{customerId: $id, salespersonId: $sp, startsAt: "2030-01-01T10:00:00Z", endsAt: "2030-01-01T11:00:00Z", location: "X"}`,
		func(w accessWorld) map[string]any { return map[string]any{"id": w.alice, "sp": w.zed} }, [5]bool{true, false, false, false, false}},
	{"rescheduleAppointment", `{id: $id, startsAt: "2030-01-01T10:00:00Z", endsAt: "2030-01-01T11:00:00Z"}`,
		idOf(func(w accessWorld) string { return w.apt1 }), [5]bool{true, true, true, false, false}},
	{"cancelAppointment", `{id: $id, reason: "r"}`, idOf(func(w accessWorld) string { return w.apt2 }), [5]bool{true, true, false, false, false}},
	{"completeAppointment", `{id: $id}`, idOf(func(w accessWorld) string { return w.aptCarol }), [5]bool{true, false, false, false, false}},
	{"createCampaign", `{name: "C"}`, noVars, [5]bool{true, false, false, true, false}},
	{"launchCampaign", `{id: $id}`, idOf(func(w accessWorld) string { return w.cmpDraft }), [5]bool{true, false, false, true, false}},
	{"endCampaign", `{id: $id}`, idOf(func(w accessWorld) string { return w.cmp }), [5]bool{true, false, false, true, false}},
	{"addOffer", `{campaignId: $id, product: "p", discountPercent: 5}`, idOf(func(w accessWorld) string { return w.cmp }), [5]bool{true, false, false, true, false}},
	{"openDeal", `{customerId: $id, product: "p", value: {amount: "1.00", currencyCode: "EUR"}}`,
		idOf(func(w accessWorld) string { return w.alice }), [5]bool{true, true, true, true, false}},
	{"openDeal", `{customerId: $id, product: "p", value: {amount: "1.00", currencyCode: "EUR"}}`,
		idOf(func(w accessWorld) string { return w.carol }), [5]bool{true, false, false, true, false}},
	{"winDeal", `{id: $id}`, idOf(func(w accessWorld) string { return w.deal1 }), [5]bool{true, true, true, true, false}},
	{"loseDeal", `{id: $id, reason: "r"}`, idOf(func(w accessWorld) string { return w.dealCarol }), [5]bool{true, false, false, true, false}},
}

func idOf(f func(accessWorld) string) func(accessWorld) map[string]any {
	return func(w accessWorld) map[string]any { return map[string]any{"id": f(w)} }
}

// TestAccessMutations runs every mutation as every role, on rows in and
// out of the scopes: an allowed one sends its command with the principal
// as actor; a denied one is FORBIDDEN and sends nothing.
func TestAccessMutations(t *testing.T) {
	t.Parallel()
	f := newFakeServices(t)
	e := newEnv(t, withServices(f))
	w := seedAccess(e)
	f.mu.Lock()
	f.created = map[string]string{wire.RegisterCustomer: w.alice, wire.RegisterSalesperson: w.rep,
		wire.CreateCampaign: w.cmp, wire.ScheduleAppointment: w.apt1, wire.OpenDeal: w.deal1}
	f.mu.Unlock()
	for _, c := range mutationCases {
		var decl []string
		for _, v := range []string{"id", "sp"} {
			if strings.Contains(c.input, "$"+v) {
				decl = append(decl, "$"+v+": ID!")
			}
		}
		q := "mutation {" + c.name + "(input: " + c.input + ") {__typename}}"
		if len(decl) > 0 {
			q = "mutation(" + strings.Join(decl, ", ") + ") {" + c.name + "(input: " + c.input + ") {__typename}}"
		}
		vars := c.vars(w)
		for i, role := range roleColumns {
			name := c.name + " " + c.input + " as " + role
			if vars != nil && vars["id"] != nil {
				name = c.name + " on " + vars["id"].(string) + " as " + role
			}
			r := e.postAs(w.as[role], q, vars)
			sent := f.take()
			switch {
			case role == "none":
				checkAnswer(t, name, r, unauth)
			case c.want[i]:
				if len(r.Errors) > 0 {
					t.Errorf("%s: errors %+v", name, r.Errors)
				}
				if len(sent) != 1 || sent[0] != "" && !strings.HasSuffix(sent[0], " by test-"+w.as[role]) {
					t.Errorf("%s: sent %v, want one command with actor test-%s", name, sent, w.as[role])
				}
				continue
			default:
				checkAnswer(t, name, r, forbidden)
			}
			if len(sent) != 0 {
				t.Errorf("%s: refused, yet sent %v", name, sent)
			}
		}
	}
}

// Paging a scoped list one row at a time visits each visible row once, in
// order, with the scope's totalCount on every page.
func TestAccessPagesAndCursors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedAccess(e)
	for _, c := range []struct {
		as, list, field string
		want            []string
	}{
		{w.as["manager"], "customers", "name", []string{"Alice Adams", "Bob Brown"}},
		{w.as["sales"], "customers", "name", []string{"Alice Adams"}},
		{w.as["manager"], "appointments", "location", []string{"Office", "Cafe", "Zoom"}},
		{w.as["sales"], "appointments", "location", []string{"Office", "Zoom"}},
	} {
		var got []string
		var after any
		for page := 0; page < 10; page++ {
			r := e.postAs(c.as, `query($after: String) {`+c.list+`(first: 1, after: $after) {totalCount
				edges {node {`+c.field+`}} pageInfo {hasNextPage endCursor}}}`, map[string]any{"after": after})
			if len(r.Errors) > 0 {
				t.Fatalf("%s %s: %+v", c.as, c.list, r.Errors)
			}
			var d map[string]struct {
				TotalCount int
				Edges      []struct{ Node map[string]string }
				PageInfo   struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			conn := d[c.list]
			if conn.TotalCount != len(c.want) {
				t.Errorf("%s %s: totalCount %d, want %d", c.as, c.list, conn.TotalCount, len(c.want))
			}
			for _, e := range conn.Edges {
				got = append(got, e.Node[c.field])
			}
			if !conn.PageInfo.HasNextPage {
				break
			}
			after = *conn.PageInfo.EndCursor
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s %s: paged %v, want %v", c.as, c.list, got, c.want)
		}
	}
}

// Introspection needs no principal; anything else does.
func TestAccessIntrospectionWithoutPrincipal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Introspection = true })
	checkAnswer(t, "__schema", e.postAs("none", `{__schema {queryType {name}}}`, nil), `{"__schema":{"queryType":{"name":"Query"}}}`)
	checkAnswer(t, "__schema and salespeople", e.postAs("none", `{__schema {queryType {name}} salespeople {id}}`, nil), unauth)
	checkAnswer(t, "a mutation", e.postAs("none", `mutation {createCampaign(input: {name: "x"}) {id}}`, nil), unauth)
}
