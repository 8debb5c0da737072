package graph

import (
	"fmt"
	"testing"
)

// A customer's relations are plain fields the resolvers fill in, so a
// resolver that forgot to would answer null or [] without an error. Every
// query path that returns customers is held to filling them, including
// the same customer reached twice in one response with different
// selections. (Mutation results and subscription pushes go through the
// same filled; cmd/crm's dev test checks them over the real binary.)
func TestRelationsOnEveryPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := seedWorld(e)
	const rel = `salesRep { name } manager { name } nextAppointment { id } deals { id }`
	want := fmt.Sprintf(`{"salesRep": {"name": "Rex Rep"}, "manager": {"name": "Mia Manager"}, "nextAppointment": {"id": %q}, "deals": [{"id": %q}, {"id": %q}]}`,
		w.apt1, w.deal1, w.deal2)
	vars := map[string]any{"c": w.alice, "rep": w.rep, "apt": w.apt1, "deal": w.deal1}
	for _, tc := range []struct {
		name, query string
		path        []string
	}{
		{"customer", `query($c: ID!) { x: customer(id: $c) { ` + rel + ` } }`, nil},
		{"node", `query($c: ID!) { x: node(id: $c) { ... on Customer { ` + rel + ` } } }`, nil},
		{"node fragment", `query($c: ID!) { x: node(id: $c) { ...F } } fragment F on Customer { ` + rel + ` }`, nil},
		{"customers", `{ x: customers(filter: {salesRepId: "` + w.rep + `"}) { edges { node { ` + rel + ` } } } }`, []string{"edges", "0", "node"}},
		{"salesperson.customers", `query($rep: ID!) { x: salesperson(id: $rep) { customers { edges { node { ` + rel + ` } } } } }`,
			[]string{"customers", "edges", "0", "node"}},
		{"appointment.customer", `query($apt: ID!) { x: appointment(id: $apt) { customer { ` + rel + ` } } }`, []string{"customer"}},
		{"deal.customer", `query($deal: ID!) { x: deal(id: $deal) { customer { ` + rel + ` } } }`, []string{"customer"}},
		{"appointments.customer", `query($c: ID!) { x: appointments(filter: {customerId: $c, status: SCHEDULED}) { edges { node { customer { ` + rel + ` } } } } }`,
			[]string{"edges", "0", "node", "customer"}},
		{"nextAppointment.customer", `query($c: ID!) { x: customer(id: $c) { nextAppointment { customer { ` + rel + ` } } } }`,
			[]string{"nextAppointment", "customer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]any
			e.query(&got, tc.query, vars)
			v := got["x"]
			for _, k := range tc.path {
				switch c := v.(type) {
				case map[string]any:
					v = c[k]
				case []any:
					if len(c) == 0 {
						t.Fatalf("empty list at %s in %v", k, got)
					}
					v = c[0]
				}
			}
			sameJSON(t, v, want)
		})
	}

	// One customer twice in a response, with different relations selected
	// on each: neither copy leaks into the other.
	var got any
	e.query(&got, `query($c: ID!) { a: customer(id: $c) { salesRep { name } } b: customer(id: $c) { deals { id } }
		c: customers(filter: {salesRepId: "`+w.rep+`"}) { edges { node { manager { name } } } } }`, vars)
	sameJSON(t, got, `{"a": {"salesRep": {"name": "Rex Rep"}}, "b": {"deals": [{"id": %q}, {"id": %q}]},
		"c": {"edges": [{"node": {"manager": {"name": "Mia Manager"}}}]}}`, w.deal1, w.deal2)
}
