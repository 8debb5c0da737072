package domain

import (
	"strings"
	"testing"

	"crm/eventlog/errcode"
)

func registerSP(cmd RegisterSalesperson) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		return w.salesperson(cmd.SalespersonID).Register(cmd, w.claim(cmd.Email), w.salesperson(cmd.ManagerID), t2)
	}
}

func TestRegisterSalesperson(t *testing.T) {
	t.Parallel()
	run(t, []tcase{
		{
			name: "manager without a manager",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: " Ada  Lovelace ", Email: " Ada@Example.com", Role: RoleManager}),
			then: []Event{
				SalespersonRegistered{SalespersonID: spNew, Name: "Ada Lovelace", Email: "ada@example.com", Role: RoleManager, RegisteredAt: t2},
				SalespersonEmailClaimed{Email: "ada@example.com", SalespersonID: spNew, ClaimedAt: t2},
			},
		},
		{
			name:  "sales rep under a manager",
			given: staff,
			when:  registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleSalesRep, ManagerID: mgr1}),
			then: []Event{
				SalespersonRegistered{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleSalesRep, ManagerID: mgr1, RegisteredAt: t2},
				SalespersonEmailClaimed{Email: "ada@example.com", SalespersonID: spNew, ClaimedAt: t2},
			},
		},
		{
			name:  "manager under a manager",
			given: staff,
			when:  registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleManager, ManagerID: mgr2}),
			then: []Event{
				SalespersonRegistered{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleManager, ManagerID: mgr2, RegisteredAt: t2},
				SalespersonEmailClaimed{Email: "ada@example.com", SalespersonID: spNew, ClaimedAt: t2},
			},
		},
		{
			name:  "manager reference to a sales rep",
			given: staff,
			when:  registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleSalesRep, ManagerID: rep1}),
			code:  errcode.BadUserInput, field: "managerId",
		},
		{
			name: "unknown manager",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleSalesRep, ManagerID: mgr1}),
			code: errcode.NotFound, field: "managerId",
		},
		{
			name: "malformed manager id",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleSalesRep, ManagerID: cusA}),
			code: errcode.BadUserInput, field: "managerId",
		},
		{
			name:  "email held by another salesperson, in another case",
			given: staff,
			when:  registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ALAN@example.com", Role: RoleSalesRep}),
			code:  errcode.Conflict, field: "email",
		},
		{
			name:  "salesperson exists already",
			given: staff,
			when:  registerSP(RegisterSalesperson{SalespersonID: rep1, Name: "Ada", Email: "ada@example.com", Role: RoleSalesRep}),
			code:  errcode.Conflict,
		},
		{
			name: "unknown role",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: "sales_rep"}),
			code: errcode.BadUserInput, field: "role",
		},
		{
			name: "missing role",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com"}),
			code: errcode.BadUserInput, field: "role",
		},
		{
			name: "blank name",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "  ", Email: "ada@example.com", Role: RoleManager}),
			code: errcode.BadUserInput, field: "name",
		},
		{
			name: "name too long",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: strings.Repeat("n", MaxNameLen+1), Email: "ada@example.com", Role: RoleManager}),
			code: errcode.BadUserInput, field: "name",
		},
		{
			name: "malformed email",
			when: registerSP(RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada.example.com", Role: RoleManager}),
			code: errcode.BadUserInput, field: "email",
		},
		{
			name: "malformed id",
			when: registerSP(RegisterSalesperson{SalespersonID: "sp_1", Name: "Ada", Email: "ada@example.com", Role: RoleManager}),
			code: errcode.BadUserInput, field: "id",
		},
		{
			name:  "manager aggregate of another id passed (service bug)",
			given: staff,
			when: func(w world) ([]Event, error) {
				cmd := RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleSalesRep, ManagerID: mgr1}
				return Salesperson{}.Register(cmd, EmailClaim{}, w.salesperson(mgr2), t2)
			},
			code: errcode.Internal,
		},
		{
			name:  "claim of another address passed (service bug)",
			given: staff,
			when: func(w world) ([]Event, error) {
				cmd := RegisterSalesperson{SalespersonID: spNew, Name: "Ada", Email: "ada@example.com", Role: RoleManager}
				return Salesperson{}.Register(cmd, w.claim("alan@example.com"), Salesperson{}, t2)
			},
			code: errcode.Internal,
		},
	})
}

// Two registrations of one email decided on the same claim both append to
// that claim stream at the same expected version: the log lets one through,
// and the retried loser is refused.
func TestConcurrentSalespersonRegistrationsContend(t *testing.T) {
	t.Parallel()
	claim := given().claim("ada@example.com")
	a, errA := Salesperson{}.Register(RegisterSalesperson{SalespersonID: spNew, Name: "A", Email: "ada@example.com", Role: RoleManager}, claim, Salesperson{}, t2)
	b, errB := Salesperson{}.Register(RegisterSalesperson{SalespersonID: mgr2, Name: "B", Email: "Ada@example.com", Role: RoleManager}, claim, Salesperson{}, t2)
	if errA != nil || errB != nil {
		t.Fatalf("decisions: %v, %v", errA, errB)
	}
	if a[1].StreamID() != b[1].StreamID() || claim.Version != 0 {
		t.Fatalf("claims go to %q and %q at version %d", a[1].StreamID(), b[1].StreamID(), claim.Version)
	}
	w := given(a...)
	_, err := Salesperson{}.Register(RegisterSalesperson{SalespersonID: mgr2, Name: "B", Email: "ada@example.com", Role: RoleManager}, w.claim("ada@example.com"), Salesperson{}, t2)
	if e := errcode.Of(err); e == nil || e.Code != errcode.Conflict || e.Field != "email" {
		t.Fatalf("retried loser: %v, want CONFLICT on email", err)
	}
}
