package domain

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"crm/eventlog/errcode"
)

func record(interest string, customer CustomerFact) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		return w.account(cusA).RecordInterest(RecordInterest{CustomerID: cusA, Interest: interest}, customer, t2)
	}
}

func remove(interest string, customer CustomerFact) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		return w.account(cusA).RemoveInterest(RemoveInterest{CustomerID: cusA, Interest: interest}, customer, t2)
	}
}

func TestInterests(t *testing.T) {
	t.Parallel()
	two := []Event{
		InterestRecorded{CustomerID: cusA, Interest: "Electric Cars", Interests: []string{"Electric Cars"}, RecordedAt: t0},
		InterestRecorded{CustomerID: cusA, Interest: "Solar", Interests: []string{"Electric Cars", "Solar"}, RecordedAt: t1},
	}
	var full []Event
	var list []string
	for i := range MaxInterests {
		list = append(list, fmt.Sprintf("topic %d", i))
		full = append(full, InterestRecorded{CustomerID: cusA, Interest: list[i], Interests: append([]string(nil), list...), RecordedAt: t0})
	}
	run(t, []tcase{
		{
			name: "first interest, trimmed",
			when: record("  Electric \t Cars ", ActiveCustomer),
			then: []Event{InterestRecorded{CustomerID: cusA, Interest: "Electric Cars", Interests: []string{"Electric Cars"}, RecordedAt: t2}},
		},
		{
			name:  "another interest carries the full list",
			given: two,
			when:  record("Heat pumps", ActiveCustomer),
			then: []Event{InterestRecorded{CustomerID: cusA, Interest: "Heat pumps",
				Interests: []string{"Electric Cars", "Solar", "Heat pumps"}, RecordedAt: t2}},
		},
		{
			name:  "a duplicate in another case changes nothing",
			given: two,
			when:  record(" electric CARS ", ActiveCustomer),
			then:  nil,
		},
		{
			name:  "remove matches case-insensitively and names the recorded spelling",
			given: two,
			when:  remove("ELECTRIC cars", ActiveCustomer),
			then:  []Event{InterestRemoved{CustomerID: cusA, Interest: "Electric Cars", Interests: []string{"Solar"}, RemovedAt: t2}},
		},
		{
			name:  "removing the last leaves an empty list",
			given: two[:1],
			when:  remove("electric cars", ActiveCustomer),
			then:  []Event{InterestRemoved{CustomerID: cusA, Interest: "Electric Cars", Interests: []string{}, RemovedAt: t2}},
		},
		{
			name:  "removing an interest the customer lacks changes nothing",
			given: two,
			when:  remove("Wind", ActiveCustomer),
			then:  nil,
		},
		{
			name:  "a removed interest can be recorded again",
			given: concat(two, []Event{InterestRemoved{CustomerID: cusA, Interest: "Solar", Interests: []string{"Electric Cars"}, RemovedAt: t1}}),
			when:  record("solar", ActiveCustomer),
			then:  []Event{InterestRecorded{CustomerID: cusA, Interest: "solar", Interests: []string{"Electric Cars", "solar"}, RecordedAt: t2}},
		},
		{
			name:  "at most MaxInterests",
			given: full,
			when:  record("one more", ActiveCustomer),
			code:  errcode.Conflict, field: "interest",
		},
		{
			name:  "a duplicate at the limit still changes nothing",
			given: full,
			when:  record("TOPIC 3", ActiveCustomer),
			then:  nil,
		},
		{name: "record: unknown customer", when: record("Solar", UnknownCustomer), code: errcode.NotFound, field: "customerId"},
		{name: "record: archived customer", when: record("Solar", ArchivedCustomer), code: errcode.Conflict},
		{name: "remove: unknown customer", given: two, when: remove("Solar", UnknownCustomer), code: errcode.NotFound, field: "customerId"},
		{name: "remove: archived customer", given: two, when: remove("Solar", ArchivedCustomer), code: errcode.Conflict},
		{name: "record: blank interest", when: record(" \n ", ActiveCustomer), code: errcode.BadUserInput, field: "interest"},
		{name: "remove: blank interest", given: two, when: remove("", ActiveCustomer), code: errcode.BadUserInput, field: "interest"},
		{
			name: "record: interest too long",
			when: record(strings.Repeat("i", MaxInterestLen+1), ActiveCustomer),
			code: errcode.BadUserInput, field: "interest",
		},
		{name: "record: control character", when: record("Sol\x07ar", ActiveCustomer), code: errcode.BadUserInput, field: "interest"},
		{
			name: "record: malformed customer id",
			when: func(w world) ([]Event, error) {
				return Account{}.RecordInterest(RecordInterest{CustomerID: "cus_x", Interest: "Solar"}, ActiveCustomer, t2)
			},
			code: errcode.BadUserInput, field: "customerId",
		},
		{
			name: "remove: malformed customer id",
			when: func(w world) ([]Event, error) {
				return Account{}.RemoveInterest(RemoveInterest{CustomerID: deal1, Interest: "Solar"}, ActiveCustomer, t2)
			},
			code: errcode.BadUserInput, field: "customerId",
		},
	})
}

// A decision never changes the lists of the aggregate it reads, even when
// they have spare capacity an append could write into.
func TestInterestDecisionsDoNotMutate(t *testing.T) {
	t.Parallel()
	a := Account{ID: cusA, Version: 2, Interests: make([]string, 2, 10)}
	a.Interests[0], a.Interests[1] = "A", "B"
	rec, err := a.RecordInterest(RecordInterest{CustomerID: cusA, Interest: "C"}, ActiveCustomer, t2)
	if err != nil {
		t.Fatal(err)
	}
	rem, err := a.RemoveInterest(RemoveInterest{CustomerID: cusA, Interest: "a"}, ActiveCustomer, t2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Interests, []string{"A", "B"}) || a.Interests[:3][2] != "" {
		t.Fatalf("aggregate changed: %q", a.Interests[:3])
	}
	got := rec[0].(InterestRecorded).Interests
	got[0] = "changed"
	if a.Interests[0] != "A" || rem[0].(InterestRemoved).Interests[0] != "B" {
		t.Fatal("events share memory with the aggregate or each other")
	}
	b := RebuildAccount(rec)
	got[1] = "changed too"
	if b.Interests[1] != "B" {
		t.Fatal("folded account shares memory with the event")
	}
}
