package graph

import (
	"fmt"
	"testing"

	"crm/eventlog/ids"
)

// The lists that are not paginated count by their real size: with a
// complexity limit of 60, alice's 2 deals fit, 30 do not; the other lists
// (salespeople, campaigns, a campaign's deals) likewise.
func TestListsCountByTheirRealSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ComplexityLimit = 60 })
	w := seedWorld(e)
	const dealsQuery = `{ customers(first: 5) { edges { node { id deals { id product stage } } } } }`
	if r := e.post(dealsQuery, nil); len(r.Errors) > 0 {
		t.Fatalf("2 deals: %+v", r.Errors)
	}
	if r := e.post(fmt.Sprintf(`{ campaign(id: %q) { deals { id product } } }`, w.cmp), nil); len(r.Errors) > 0 {
		t.Fatalf("a campaign's deal: %+v", r.Errors)
	}
	for i := range 30 {
		e.exec(`INSERT INTO {{.schema}}.deals (id, customer_id, campaign_id, product, amount, currency, stage, version, created_at, updated_at)
			VALUES ($1, $2, $3, 'p', 1, 'EUR', 'OPEN', 1, now(), now())`, ids.New(ids.Deal), w.alice, w.cmp)
		e.exec(`INSERT INTO {{.schema}}.salespeople (id, name, email, role, version, created_at) VALUES ($1, $2, $3, 'SALES_REP', 1, now())`,
			ids.New(ids.Salesperson), fmt.Sprint("Rep ", i), fmt.Sprintf("rep%d@example.com", i))
	}
	for _, q := range []string{dealsQuery,
		fmt.Sprintf(`{ customer(id: %q) { deals { id product stage } } }`, w.alice),
		fmt.Sprintf(`{ campaign(id: %q) { deals { id product stage } } }`, w.cmp),
		`{ salespeople { id name email } }`,
	} {
		r := e.post(q, nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("%s: %+v", q, r.Errors)
		}
	}
	// A narrower selection of the same list fits.
	if r := e.post(`{ salespeople { id } }`, nil); len(r.Errors) > 0 {
		t.Errorf("33 salespeople, one field each: %+v", r.Errors)
	}
}
