package domain

import (
	"testing"

	"crm/eventlog/errcode"
)

func addProduct(cmd AddOwnedProduct) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		return w.account(cmd.CustomerID).AddOwnedProduct(cmd, t2)
	}
}

func TestAddOwnedProduct(t *testing.T) {
	t.Parallel()
	owns := []Event{ProductAdded{CustomerID: cusA, DealID: deal1, Product: "Heat Pump X", Products: []string{"Heat Pump X"}, AddedAt: t1}}
	run(t, []tcase{
		{
			name: "first product of a won deal",
			when: addProduct(AddOwnedProduct{CustomerID: cusA, DealID: deal1, Product: "  Heat  Pump X "}),
			then: []Event{ProductAdded{CustomerID: cusA, DealID: deal1, Product: "Heat Pump X", Products: []string{"Heat Pump X"}, AddedAt: t2}},
		},
		{
			name:  "a product of another deal joins the list",
			given: owns,
			when:  addProduct(AddOwnedProduct{CustomerID: cusA, DealID: deal2, Product: "Solar Roof"}),
			then: []Event{ProductAdded{CustomerID: cusA, DealID: deal2, Product: "Solar Roof",
				Products: []string{"Heat Pump X", "Solar Roof"}, AddedAt: t2}},
		},
		{
			name:  "the same deal again changes nothing",
			given: owns,
			when:  addProduct(AddOwnedProduct{CustomerID: cusA, DealID: deal1, Product: "Heat Pump X"}),
			then:  nil,
		},
		{
			name:  "another deal for an owned product is recorded, the product listed once",
			given: owns,
			when:  addProduct(AddOwnedProduct{CustomerID: cusA, DealID: deal2, Product: "heat pump x"}),
			then: []Event{ProductAdded{CustomerID: cusA, DealID: deal2, Product: "heat pump x",
				Products: []string{"Heat Pump X"}, AddedAt: t2}},
		},
		{
			name:  "an account with a team gets its first product",
			given: concat(staff, []Event{AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep1, AssignedAt: t0}}),
			when:  addProduct(AddOwnedProduct{CustomerID: cusA, DealID: deal1, Product: "P"}),
			then:  []Event{ProductAdded{CustomerID: cusA, DealID: deal1, Product: "P", Products: []string{"P"}, AddedAt: t2}},
		},
		{
			name: "empty product",
			when: addProduct(AddOwnedProduct{CustomerID: cusA, DealID: deal1, Product: "  "}),
			code: errcode.BadUserInput, field: "product",
		},
		{
			name: "malformed deal id",
			when: addProduct(AddOwnedProduct{CustomerID: cusA, DealID: "deal_1", Product: "P"}),
			code: errcode.BadUserInput, field: "dealId",
		},
		{
			name: "malformed customer id",
			when: addProduct(AddOwnedProduct{CustomerID: "", DealID: deal1, Product: "P"}),
			code: errcode.BadUserInput, field: "customerId",
		},
		{
			name:  "account of another customer passed (service bug)",
			given: owns,
			when: func(w world) ([]Event, error) {
				return w.account(cusA).AddOwnedProduct(AddOwnedProduct{CustomerID: cusB, DealID: deal2, Product: "P"}, t2)
			},
			code: errcode.Internal,
		},
	})
}
