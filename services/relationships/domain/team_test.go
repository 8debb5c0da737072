package domain

import (
	"testing"

	"crm/eventlog/errcode"
)

func assign(cmd AssignAccountTeam, customer CustomerFact) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		return w.account(cmd.CustomerID).AssignTeam(cmd, customer, w.salesperson(cmd.SalesRepID), w.salesperson(cmd.ManagerID), t2)
	}
}

func TestAssignTeam(t *testing.T) {
	t.Parallel()
	teamed := concat(staff, []Event{AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep1, ManagerID: mgr1, AssignedAt: t1}})
	run(t, []tcase{
		{
			name:  "rep and manager",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep2, ManagerID: mgr2}, ActiveCustomer),
			then:  []Event{AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep2, ManagerID: mgr2, AssignedAt: t2}},
		},
		{
			name:  "without a manager the rep's manager is taken",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep1}, ActiveCustomer),
			then:  []Event{AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep1, ManagerID: mgr1, AssignedAt: t2}},
		},
		{
			name:  "rep without a manager, none given",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep2}, ActiveCustomer),
			then:  []Event{AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep2, AssignedAt: t2}},
		},
		{
			name:  "another team replaces the current one",
			given: teamed,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep1, ManagerID: mgr2}, ActiveCustomer),
			then:  []Event{AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep1, ManagerID: mgr2, AssignedAt: t2}},
		},
		{
			name:  "the same team again changes nothing",
			given: teamed,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep1}, ActiveCustomer),
			then:  nil,
		},
		{
			name:  "unknown customer",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep1}, UnknownCustomer),
			code:  errcode.NotFound, field: "customerId",
		},
		{
			name:  "archived customer",
			given: teamed,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep2}, ArchivedCustomer),
			code:  errcode.Conflict,
		},
		{
			name:  "unknown rep",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: spNew}, ActiveCustomer),
			code:  errcode.NotFound, field: "salesRepId",
		},
		{
			name:  "a manager as rep",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: mgr1}, ActiveCustomer),
			code:  errcode.BadUserInput, field: "salesRepId",
		},
		{
			name:  "unknown manager",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep1, ManagerID: spNew}, ActiveCustomer),
			code:  errcode.NotFound, field: "managerId",
		},
		{
			name:  "a rep as manager",
			given: staff,
			when:  assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep1, ManagerID: rep2}, ActiveCustomer),
			code:  errcode.BadUserInput, field: "managerId",
		},
		{
			name: "malformed customer id",
			when: assign(AssignAccountTeam{CustomerID: rep1, SalesRepID: rep1}, ActiveCustomer),
			code: errcode.BadUserInput, field: "customerId",
		},
		{
			name: "missing rep id",
			when: assign(AssignAccountTeam{CustomerID: cusA}, ActiveCustomer),
			code: errcode.BadUserInput, field: "salesRepId",
		},
		{
			name: "malformed rep id",
			when: assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: cusB}, ActiveCustomer),
			code: errcode.BadUserInput, field: "salesRepId",
		},
		{
			name: "malformed manager id",
			when: assign(AssignAccountTeam{CustomerID: cusA, SalesRepID: rep1, ManagerID: "mgr"}, ActiveCustomer),
			code: errcode.BadUserInput, field: "managerId",
		},
		{
			name:  "account of another customer passed (service bug)",
			given: teamed,
			when: func(w world) ([]Event, error) {
				return w.account(cusA).AssignTeam(AssignAccountTeam{CustomerID: cusB, SalesRepID: rep1},
					ActiveCustomer, w.salesperson(rep1), Salesperson{}, t2)
			},
			code: errcode.Internal,
		},
	})
}
