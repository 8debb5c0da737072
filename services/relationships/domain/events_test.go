package domain

import (
	"reflect"
	"testing"

	"crm/services/relationships/contract"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	all := []Event{
		SalespersonRegistered{SalespersonID: rep1, Name: "Alan", Email: "alan@example.com", Role: RoleSalesRep, ManagerID: mgr1, RegisteredAt: t0},
		SalespersonEmailClaimed{Email: "alan@example.com", SalespersonID: rep1, ClaimedAt: t0},
		AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep1, ManagerID: mgr1, AssignedAt: t1},
		InterestRecorded{CustomerID: cusA, Interest: "Solar", Interests: []string{"Solar"}, RecordedAt: t1},
		InterestRemoved{CustomerID: cusA, Interest: "Solar", Interests: []string{}, RemovedAt: t2},
		ProductAdded{CustomerID: cusA, DealID: deal1, Product: "P", Products: []string{"P"}, AddedAt: t2},
	}
	types := map[string]bool{}
	for _, e := range all {
		roundTrip(t, e)
		types[e.EventType()] = true
	}
	for _, typ := range EventTypes() {
		if !types[typ] {
			t.Errorf("EventTypes lists %s, which the test does not cover", typ)
		}
	}
	if len(types) != len(EventTypes()) {
		t.Errorf("EventTypes = %v, test covers %v", EventTypes(), types)
	}
	if _, err := Decode("SalespersonFired", []byte(`{}`)); err == nil {
		t.Error("unknown type decoded")
	}
	if _, err := Decode(TypeProductAdded, []byte(`[]`)); err == nil {
		t.Error("malformed data decoded")
	}
	// An empty list is written as [] (a read model gets a list, not null).
	e, _ := Decode(TypeInterestRemoved, []byte(`{"customerId":"`+cusA+`","interest":"Solar","interests":[],"removedAt":"2025-03-01T11:00:00Z","x":1}`))
	if r, ok := e.(InterestRemoved); !ok || r.Interests == nil || len(r.Interests) != 0 {
		t.Errorf("decoded %#v", e)
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	w := given(concat(staff, []Event{
		AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep1, ManagerID: mgr1, AssignedAt: t0},
		InterestRecorded{CustomerID: cusA, Interest: "Solar", Interests: []string{"Solar"}, RecordedAt: t0},
		InterestRecorded{CustomerID: cusA, Interest: "Wind", Interests: []string{"Solar", "Wind"}, RecordedAt: t0},
		InterestRemoved{CustomerID: cusA, Interest: "Solar", Interests: []string{"Wind"}, RemovedAt: t1},
		ProductAdded{CustomerID: cusA, DealID: deal1, Product: "P", Products: []string{"P"}, AddedAt: t1},
		AccountTeamAssigned{CustomerID: cusA, SalesRepID: rep2, AssignedAt: t2},
	})...)
	want := Account{ID: cusA, Version: 6, SalesRepID: rep2, Interests: []string{"Wind"}, Products: []string{"P"},
		Deals: map[string]bool{deal1: true}}
	if got := w.account(cusA); !reflect.DeepEqual(got, want) {
		t.Errorf("account:\n got %+v\nwant %+v", got, want)
	}
	if got := w.account(cusB); !reflect.DeepEqual(got, Account{}) {
		t.Errorf("empty account: %+v", got)
	}
	wantRep := Salesperson{ID: rep1, Version: 1, Name: "Alan", Email: "alan@example.com", Role: RoleSalesRep,
		ManagerID: mgr1, RegisteredAt: t0}
	if got := w.salesperson(rep1); got != wantRep {
		t.Errorf("salesperson: %+v", got)
	}
	if got := w.salesperson(spNew); got.Exists() {
		t.Errorf("unknown salesperson: %+v", got)
	}
	wantClaim := EmailClaim{ID: contract.EmailClaimStreamID("alan@example.com"), Version: 1, Email: "alan@example.com", Holder: rep1}
	if got := w.claim("alan@example.com"); got != wantClaim {
		t.Errorf("claim: %+v", got)
	}

	// Events of another aggregate's type are not folded and not counted.
	a := w.account(cusA)
	a.Apply(SalespersonRegistered{SalespersonID: rep1})
	s := w.salesperson(rep1)
	s.Apply(AccountTeamAssigned{CustomerID: cusA})
	c := w.claim("alan@example.com")
	c.Apply(ProductAdded{CustomerID: cusA})
	if a.Version != 6 || s.Version != 1 || c.Version != 1 {
		t.Errorf("foreign events folded: %d %d %d", a.Version, s.Version, c.Version)
	}
}
