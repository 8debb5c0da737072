package domain

import (
	"reflect"
	"strings"
	"testing"

	"crm/eventlog/errcode"
)

// update decides cmd loading the claims as the service does: the current
// email's claim, and the requested email's claim when an email is given.
func update(cmd UpdateCustomer) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		c := w.customer(cmd.CustomerID)
		var requested EmailClaim
		if cmd.Email != nil {
			requested = w.claim(*cmd.Email)
		}
		return c.Update(cmd, w.claim(c.Email), requested, t2)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ada := concat(registered(cusA, "Ada", "ada@example.com"), []Event{
		CustomerUpdated{CustomerID: cusA, Name: "Ada", Email: "ada@example.com", Phone: "+4930123456",
			Address: &Address{City: "Berlin"}, Changed: []string{"phone", "address"}, UpdatedAt: t1},
	})
	updated := func(name, email, phone string, addr *Address, changed ...string) CustomerUpdated {
		return CustomerUpdated{CustomerID: cusA, Name: name, Email: email, Phone: phone, Address: addr,
			Changed: changed, UpdatedAt: t2}
	}
	run(t, []tcase{
		{
			name:  "name only, carrying the full contact data",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Name: ptr(" Ada  King ")}),
			then:  []Event{updated("Ada King", "ada@example.com", "+4930123456", &Address{City: "Berlin"}, "name")},
		},
		{
			name:  "every field at once",
			given: ada,
			when: update(UpdateCustomer{CustomerID: cusA, Name: ptr("Ada King"), Email: ptr("King@Example.com"),
				Phone: ptr("0044 20 7946 0958"), Address: &Address{Street: "1 Strand", City: "London", Country: "UK"}}),
			then: []Event{
				updated("Ada King", "king@example.com", "+442079460958",
					&Address{Street: "1 Strand", City: "London", Country: "UK"}, "name", "email", "phone", "address"),
				CustomerEmailClaimed{Email: "king@example.com", CustomerID: cusA, ClaimedAt: t2},
				CustomerEmailReleased{Email: "ada@example.com", CustomerID: cusA, ReleasedAt: t2},
			},
		},
		{
			name:  "an empty phone removes it",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Phone: ptr("  ")}),
			then:  []Event{updated("Ada", "ada@example.com", "", &Address{City: "Berlin"}, "phone")},
		},
		{
			name:  "an empty address removes it",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Address: &Address{}}),
			then:  []Event{updated("Ada", "ada@example.com", "+4930123456", nil, "address")},
		},
		{
			name:  "email of an archived customer can be taken over",
			given: concat(ada, registered(cusB, "Bob", "bob@example.com"), archived(cusB, "bob@example.com")),
			when:  update(UpdateCustomer{CustomerID: cusA, Email: ptr("bob@example.com")}),
			then: []Event{
				updated("Ada", "bob@example.com", "+4930123456", &Address{City: "Berlin"}, "email"),
				CustomerEmailClaimed{Email: "bob@example.com", CustomerID: cusA, ClaimedAt: t2},
				CustomerEmailReleased{Email: "ada@example.com", CustomerID: cusA, ReleasedAt: t2},
			},
		},
		{
			name:  "same values change nothing",
			given: ada,
			when: update(UpdateCustomer{CustomerID: cusA, Name: ptr("Ada"), Email: ptr(" ADA@example.com"),
				Phone: ptr("+49 30 123456"), Address: &Address{City: " Berlin "}}),
			then: nil,
		},
		{
			name:  "no field given changes nothing",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA}),
			then:  nil,
		},
		{
			name:  "email held by another active customer",
			given: concat(ada, registered(cusB, "Bob", "bob@example.com")),
			when:  update(UpdateCustomer{CustomerID: cusA, Email: ptr("BOB@example.com")}),
			code:  errcode.Conflict, field: "email",
		},
		{
			name:  "archived customer",
			given: concat(ada, archived(cusA, "ada@example.com")),
			when:  update(UpdateCustomer{CustomerID: cusA, Name: ptr("Ada King")}),
			code:  errcode.Conflict,
		},
		{
			name: "unknown customer",
			when: update(UpdateCustomer{CustomerID: cusC, Name: ptr("Ada King")}),
			code: errcode.NotFound,
		},
		{
			name: "malformed id",
			when: update(UpdateCustomer{CustomerID: "cus_42", Name: ptr("Ada King")}),
			code: errcode.BadUserInput, field: "id",
		},
		{
			name:  "blank name",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Name: ptr("")}),
			code:  errcode.BadUserInput, field: "name",
		},
		{
			name:  "blank email",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Email: ptr("")}),
			code:  errcode.BadUserInput, field: "email",
		},
		{
			name:  "malformed email",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Email: ptr("ada@@example.com")}),
			code:  errcode.BadUserInput, field: "email",
		},
		{
			name:  "malformed phone",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Phone: ptr("+49 30 CALL-ME")}),
			code:  errcode.BadUserInput, field: "phone",
		},
		{
			name:  "city too long",
			given: ada,
			when:  update(UpdateCustomer{CustomerID: cusA, Address: &Address{City: strings.Repeat("c", MaxCityLen+1)}}),
			code:  errcode.BadUserInput, field: "address.city",
		},
		{
			name:  "current claim not loaded (service bug)",
			given: ada,
			when: func(w world) ([]Event, error) {
				cmd := UpdateCustomer{CustomerID: cusA, Email: ptr("new@example.com")}
				return w.customer(cusA).Update(cmd, EmailClaim{}, w.claim("new@example.com"), t2)
			},
			code: errcode.Internal,
		},
		{
			name:  "decided on another customer's stream (service bug)",
			given: concat(ada, registered(cusB, "Bob", "bob@example.com")),
			when: func(w world) ([]Event, error) {
				return w.customer(cusB).Update(UpdateCustomer{CustomerID: cusA, Name: ptr("X")}, EmailClaim{}, EmailClaim{}, t2)
			},
			code: errcode.Internal,
		},
	})
}

// A decision reads its aggregates and never changes them.
func TestDecisionsDoNotMutate(t *testing.T) {
	t.Parallel()
	w := given(concat(registered(cusA, "Ada", "ada@example.com"), []Event{CustomerUpdated{CustomerID: cusA,
		Name: "Ada", Email: "ada@example.com", Address: &Address{City: "Berlin"}, Changed: []string{"address"}, UpdatedAt: t1}})...)
	c, claim := w.customer(cusA), w.claim("ada@example.com")
	before, beforeAddr, beforeClaim := c, *c.Address, claim
	if _, err := c.Update(UpdateCustomer{CustomerID: cusA, Name: ptr("X"), Email: ptr("x@example.com"),
		Address: &Address{City: "Paris"}}, claim, EmailClaim{}, t2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Archive(ArchiveCustomer{CustomerID: cusA}, claim, t2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, before) || *c.Address != beforeAddr || claim != beforeClaim {
		t.Fatalf("aggregate changed: %+v, claim %+v", c, claim)
	}
}
