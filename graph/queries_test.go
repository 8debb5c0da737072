package graph

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// sameJSON fails unless got and want (JSON text) are equal as JSON values.
func sameJSON(t *testing.T, got any, want string, args ...any) {
	t.Helper()
	want = fmt.Sprintf(want, args...)
	var g, w any
	b, _ := json.Marshal(got)
	_ = json.Unmarshal(b, &g)
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", " ")
		wb, _ := json.MarshalIndent(w, "", " ")
		t.Fatalf("got\n%s\nwant\n%s", gb, wb)
	}
}

func TestCustomerWithEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	var got any
	e.query(&got, `query($id: ID!) { customer(id: $id) {
		id name email phone address { street city postalCode country } status version createdAt updatedAt
		salesRep { id name role manager { id } } manager { id name }
		interests products upcomingAppointmentCount
		nextAppointment { id startsAt endsAt location status salesperson { name } customer { name } }
		openDealCount wonDealTotal { amount currencyCode }
		deals { id product value { amount currencyCode } stage }
	} }`, map[string]any{"id": w.alice})
	sameJSON(t, got, `{"customer": {
		"id": %q, "name": "Alice Adams", "email": "alice@example.com", "phone": "+49 1",
		"address": {"street": "Main St 1", "city": "Berlin", "postalCode": "10115", "country": "DE"},
		"status": "ACTIVE", "version": 3, "createdAt": "2029-01-01T00:00:00Z", "updatedAt": "2029-01-02T00:00:00Z",
		"salesRep": {"id": %q, "name": "Rex Rep", "role": "SALES_REP", "manager": {"id": %q}},
		"manager": {"id": %q, "name": "Mia Manager"},
		"interests": ["boats", "cars"], "products": ["yacht"], "upcomingAppointmentCount": 1,
		"nextAppointment": {"id": %q, "startsAt": "2030-01-01T09:00:00Z", "endsAt": "2030-01-01T10:00:00Z",
			"location": "Office", "status": "SCHEDULED", "salesperson": {"name": "Rex Rep"}, "customer": {"name": "Alice Adams"}},
		"openDealCount": 1, "wonDealTotal": [{"amount": "1250.00", "currencyCode": "EUR"}, {"amount": "10.50", "currencyCode": "USD"}],
		"deals": [{"id": %q, "product": "yacht", "value": {"amount": "1250.00", "currencyCode": "EUR"}, "stage": "WON"},
		          {"id": %q, "product": "dinghy", "value": {"amount": "99.999", "currencyCode": "EUR"}, "stage": "OPEN"}]
	}}`, w.alice, w.rep, w.manager, w.manager, w.apt1, w.deal1, w.deal2)

	// Bob: no address, no rep's manager, nothing upcoming.
	e.query(&got, `query($id: ID!) { customer(id: $id) { address { city } phone manager { id } nextAppointment { id } wonDealTotal { amount } deals { id } } }`,
		map[string]any{"id": w.bob})
	sameJSON(t, got, `{"customer": {"address": null, "phone": null, "manager": null, "nextAppointment": null, "wonDealTotal": [], "deals": []}}`)

	// Unregistered and unknown customers are invisible.
	for _, id := range []string{w.ghost, "cus_nope", "garbage"} {
		e.query(&got, `query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": id})
		sameJSON(t, got, `{"customer": null}`)
	}
}

func TestCustomersFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	cases := []struct {
		filter map[string]any
		want   []string
	}{
		{nil, []string{w.alice, w.bob}},
		{map[string]any{"search": "ALICE"}, []string{w.alice}},
		{map[string]any{"search": "sample.ORG"}, []string{w.bob}},
		{map[string]any{"search": "%"}, nil}, // wildcards match literally
		{map[string]any{"status": "ARCHIVED"}, []string{w.bob}},
		{map[string]any{"status": "ACTIVE"}, []string{w.alice}},
		{map[string]any{"salesRepId": w.rep}, []string{w.alice}}, // not the unregistered ghost
		{map[string]any{"salesRepId": w.other}, []string{w.bob}},
		{map[string]any{"interest": "cars"}, []string{w.alice, w.bob}},
		{map[string]any{"interest": "boats"}, []string{w.alice}},
		{map[string]any{"interest": "cars", "status": "ACTIVE", "search": "adams"}, []string{w.alice}},
	}
	for _, c := range cases {
		var got struct {
			Customers struct {
				Edges []struct {
					Cursor string
					Node   struct{ ID string }
				}
				PageInfo   struct{ HasNextPage bool }
				TotalCount int
			}
		}
		e.query(&got, `query($f: CustomerFilter) { customers(filter: $f) { edges { cursor node { id } } pageInfo { hasNextPage } totalCount } }`,
			map[string]any{"f": c.filter})
		var ids []string
		for _, ed := range got.Customers.Edges {
			ids = append(ids, ed.Node.ID)
			if ed.Cursor == "" {
				t.Errorf("empty cursor")
			}
		}
		if !reflect.DeepEqual(ids, c.want) || got.Customers.TotalCount != len(c.want) || got.Customers.PageInfo.HasNextPage {
			t.Errorf("filter %v: got %v total %d, want %v", c.filter, ids, got.Customers.TotalCount, c.want)
		}
	}
}

func TestSalespeople(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	var got any
	e.query(&got, `query($id: ID!) { salesperson(id: $id) { id name email role manager { name } customers { edges { node { id } } totalCount } } }`,
		map[string]any{"id": w.rep})
	sameJSON(t, got, `{"salesperson": {"id": %q, "name": "Rex Rep", "email": "rex@example.com", "role": "SALES_REP",
		"manager": {"name": "Mia Manager"}, "customers": {"edges": [{"node": {"id": %q}}], "totalCount": 1}}}`, w.rep, w.alice)
	// A manager's customers are those whose team she leads.
	e.query(&got, `query($id: ID!) { salesperson(id: $id) { manager { id } customers { totalCount } } }`, map[string]any{"id": w.manager})
	sameJSON(t, got, `{"salesperson": {"manager": null, "customers": {"totalCount": 1}}}`)
	e.query(&got, `{ all: salespeople { id } reps: salespeople(role: SALES_REP) { id } managers: salespeople(role: MANAGER) { name } }`, nil)
	sameJSON(t, got, `{"all": [{"id": %q}, {"id": %q}, {"id": %q}], "reps": [{"id": %q}, {"id": %q}], "managers": [{"name": "Mia Manager"}]}`,
		w.manager, w.rep, w.other, w.rep, w.other)
	e.query(&got, `{ salesperson(id: "sp_missing") { id } }`, nil)
	sameJSON(t, got, `{"salesperson": null}`)
}

func TestAppointments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	var got any
	e.query(&got, `query($id: ID!) { appointment(id: $id) { id customer { id } salesperson { id } startsAt endsAt location status cancellationReason notes version } }`,
		map[string]any{"id": w.apt3})
	sameJSON(t, got, `{"appointment": {"id": %q, "customer": {"id": %q}, "salesperson": {"id": %q},
		"startsAt": "2030-01-03T09:00:00Z", "endsAt": "2030-01-03T10:00:00Z", "location": "Zoom", "status": "CANCELLED",
		"cancellationReason": "archived", "notes": null, "version": 2}}`, w.apt3, w.bob, w.rep)
	e.query(&got, `query($id: ID!) { appointment(id: $id) { id } }`, map[string]any{"id": w.aptHide})
	sameJSON(t, got, `{"appointment": null}`)

	cases := []struct {
		filter map[string]any
		want   []string
	}{
		{nil, []string{w.apt1, w.apt2, w.apt3}},
		{map[string]any{"customerId": w.alice}, []string{w.apt1, w.apt2}},
		{map[string]any{"salespersonId": w.rep}, []string{w.apt1, w.apt3}},
		{map[string]any{"status": "COMPLETED"}, []string{w.apt2}},
		{map[string]any{"from": "2030-01-01T09:00:00Z"}, []string{w.apt1, w.apt3}},
		{map[string]any{"to": "2030-01-01T09:00:00Z"}, []string{w.apt2}},
		{map[string]any{"from": "2029-12-31T00:00:00Z", "to": "2030-01-02T00:00:00Z"}, []string{w.apt1}},
		{map[string]any{"customerId": w.alice, "salespersonId": w.rep, "status": "SCHEDULED"}, []string{w.apt1}},
	}
	for _, c := range cases {
		var page struct {
			Appointments struct {
				Edges      []struct{ Node struct{ ID string } }
				TotalCount int
			}
		}
		e.query(&page, `query($f: AppointmentFilter) { appointments(filter: $f) { edges { node { id } } totalCount } }`,
			map[string]any{"f": c.filter})
		var ids []string
		for _, ed := range page.Appointments.Edges {
			ids = append(ids, ed.Node.ID)
		}
		if !reflect.DeepEqual(ids, c.want) || page.Appointments.TotalCount != len(c.want) {
			t.Errorf("filter %v: got %v (total %d), want %v", c.filter, ids, page.Appointments.TotalCount, c.want)
		}
	}

	// Customer.appointments: first page through the loader, then by cursor.
	var ca struct {
		Customer struct {
			Appointments struct {
				Edges []struct {
					Cursor string
					Node   struct{ ID string }
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
				TotalCount int
			}
		}
	}
	q := `query($id: ID!, $after: String) { customer(id: $id) { appointments(first: 1, after: $after) {
		edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount } } }`
	e.query(&ca, q, map[string]any{"id": w.alice})
	a := ca.Customer.Appointments
	if len(a.Edges) != 1 || a.Edges[0].Node.ID != w.apt1 || !a.PageInfo.HasNextPage || a.TotalCount != 2 || a.PageInfo.EndCursor != a.Edges[0].Cursor {
		t.Fatalf("first page: %+v", a)
	}
	e.query(&ca, q, map[string]any{"id": w.alice, "after": a.PageInfo.EndCursor})
	a = ca.Customer.Appointments
	if len(a.Edges) != 1 || a.Edges[0].Node.ID != w.apt2 || a.PageInfo.HasNextPage || a.TotalCount != 2 {
		t.Fatalf("second page: %+v", a)
	}
}

func TestCampaignsAndDeals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	var got any
	e.query(&got, `query($id: ID!) { campaign(id: $id) { id name status startsAt endsAt
		offers { id product discountPercent validUntil } deals { id } openDealCount wonDealTotal { amount currencyCode } version } }`,
		map[string]any{"id": w.cmp})
	sameJSON(t, got, `{"campaign": {"id": %q, "name": "Spring", "status": "ACTIVE", "startsAt": "2030-03-01T00:00:00Z", "endsAt": null,
		"offers": [{"id": %q, "product": "yacht", "discountPercent": 10, "validUntil": "2030-06-01T00:00:00Z"}],
		"deals": [{"id": %q}], "openDealCount": 1, "wonDealTotal": [{"amount": "1250.00", "currencyCode": "EUR"}], "version": 3}}`,
		w.cmp, w.offer, w.deal1)
	e.query(&got, `{ all: campaigns { name openDealCount wonDealTotal { amount } offers { id } deals { id } } drafts: campaigns(status: DRAFT) { name } ended: campaigns(status: ENDED) { name } }`, nil)
	sameJSON(t, got, `{"all": [{"name": "Spring", "openDealCount": 1, "wonDealTotal": [{"amount": "1250.00"}], "offers": [{"id": %q}], "deals": [{"id": %q}]},
		{"name": "Draft", "openDealCount": 0, "wonDealTotal": [], "offers": [], "deals": []}],
		"drafts": [{"name": "Draft"}], "ended": []}`, w.offer, w.deal1)

	e.query(&got, `query($a: ID!, $b: ID!) {
		a: deal(id: $a) { id customer { id } campaign { id } offer { id discountPercent } salesRep { id } product value { amount currencyCode } stage lostReason version }
		b: deal(id: $b) { campaign { id } offer { id } salesRep { id } value { amount } stage } }`,
		map[string]any{"a": w.deal1, "b": w.deal2})
	sameJSON(t, got, `{"a": {"id": %q, "customer": {"id": %q}, "campaign": {"id": %q}, "offer": {"id": %q, "discountPercent": 10},
		"salesRep": {"id": %q}, "product": "yacht", "value": {"amount": "1250.00", "currencyCode": "EUR"}, "stage": "WON", "lostReason": null, "version": 2},
		"b": {"campaign": null, "offer": null, "salesRep": null, "value": {"amount": "99.999"}, "stage": "OPEN"}}`,
		w.deal1, w.alice, w.cmp, w.offer, w.rep)
}

func TestNode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	q := `query($id: ID!) { node(id: $id) { __typename id
		... on Customer { name } ... on Salesperson { role } ... on Appointment { location }
		... on Campaign { status } ... on Deal { stage } } }`
	for id, want := range map[string]string{
		w.alice: `{"__typename": "Customer", "id": %q, "name": "Alice Adams"}`,
		w.rep:   `{"__typename": "Salesperson", "id": %q, "role": "SALES_REP"}`,
		w.apt1:  `{"__typename": "Appointment", "id": %q, "location": "Office"}`,
		w.cmp:   `{"__typename": "Campaign", "id": %q, "status": "ACTIVE"}`,
		w.deal1: `{"__typename": "Deal", "id": %q, "stage": "WON"}`,
	} {
		var got any
		e.query(&got, q, map[string]any{"id": id})
		sameJSON(t, got, `{"node": `+want+`}`, id)
	}
	for _, id := range []string{w.ghost, w.aptHide, w.offer, "cus_missing", "nothing", ""} {
		var got any
		e.query(&got, q, map[string]any{"id": id})
		sameJSON(t, got, `{"node": null}`)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	type page struct {
		Customer struct {
			History struct {
				Edges []struct {
					Node struct {
						ID, Area, StreamID, Position, Type, OccurredAt string
						Version                                        int
						Data                                           map[string]any
					}
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
	}
	q := `query($id: ID!, $after: String) { customer(id: $id) { history(first: 2, after: $after) {
		edges { node { id area streamId version position type occurredAt data } } pageInfo { hasNextPage endCursor } } } }`
	var p page
	e.query(&p, q, map[string]any{"id": w.alice})
	h := p.Customer.History
	if len(h.Edges) != 2 || h.Edges[0].Node.ID != "ev1" || h.Edges[1].Node.ID != "ev2" || !h.PageInfo.HasNextPage {
		t.Fatalf("first page: %+v", h)
	}
	n := h.Edges[0].Node
	if n.Area != "CUSTOMERS" || n.StreamID != w.alice || n.Version != 1 || n.Position != "10" || n.Type != "CustomerRegistered" ||
		n.OccurredAt != "2029-01-01T00:00:00Z" || n.Data["name"] != "Alice Adams" || h.Edges[1].Node.Area != "RELATIONSHIPS" {
		t.Fatalf("event: %+v", h.Edges)
	}
	e.query(&p, q, map[string]any{"id": w.alice, "after": *h.PageInfo.EndCursor})
	h = p.Customer.History
	if len(h.Edges) != 1 || h.Edges[0].Node.ID != "ev3" || h.PageInfo.HasNextPage {
		t.Fatalf("second page: %+v", h)
	}
	r := e.post(q, map[string]any{"id": w.alice, "after": "bm9wZQ"})
	wantError(t, r, "BAD_USER_INPUT", "after")
	if !strings.Contains(string(r.Data), "null") {
		t.Fatalf("data with error: %s", r.Data)
	}
}
