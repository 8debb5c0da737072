package domain

import (
	"strings"
	"testing"

	"crm/eventlog/errcode"
	"crm/services/customers/contract"
)

func register(cmd RegisterCustomer) func(w world) ([]Event, error) {
	return func(w world) ([]Event, error) {
		return w.customer(cmd.CustomerID).Register(cmd, w.claim(cmd.Email), t2)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	run(t, []tcase{
		{
			name: "minimal registration is normalized and claims the email",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "  Ada \t Lovelace ", Email: " Ada@Example.COM "}),
			then: []Event{
				CustomerRegistered{CustomerID: cusA, Name: "Ada Lovelace", Email: "ada@example.com", RegisteredAt: t2},
				CustomerEmailClaimed{Email: "ada@example.com", CustomerID: cusA, ClaimedAt: t2},
			},
		},
		{
			name: "phone and address are canonical",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ada@example.com",
				Phone: " +49 (30) 123-4567 ", Address: &Address{Street: " Main  St 1 ", City: "Berlin", Country: "DE"}}),
			then: []Event{
				CustomerRegistered{CustomerID: cusA, Name: "Ada", Email: "ada@example.com", Phone: "+49301234567",
					Address: &Address{Street: "Main St 1", City: "Berlin", Country: "DE"}, RegisteredAt: t2},
				CustomerEmailClaimed{Email: "ada@example.com", CustomerID: cusA, ClaimedAt: t2},
			},
		},
		{
			name: "an address without any field is no address",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ada@example.com",
				Phone: "", Address: &Address{Street: "  ", City: ""}}),
			then: registeredNow(cusA, "Ada", "ada@example.com"),
		},
		{
			name: "name of 200 characters",
			when: register(RegisterCustomer{CustomerID: cusA, Name: strings.Repeat("é", 200), Email: "ada@example.com"}),
			then: registeredNow(cusA, strings.Repeat("é", 200), "ada@example.com"),
		},
		{
			name:  "email of an archived customer is free again",
			given: concat(registered(cusB, "Old", "ada@example.com"), archived(cusB, "ada@example.com")),
			when:  register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ADA@example.com"}),
			then:  registeredNow(cusA, "Ada", "ada@example.com"),
		},
		{
			name:  "email held by another active customer",
			given: registered(cusB, "Other", "ada@example.com"),
			when:  register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "Ada@Example.com"}),
			code:  errcode.Conflict, field: "email",
		},
		{
			name:  "customer exists already",
			given: registered(cusA, "Ada", "ada@example.com"),
			when:  register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "other@example.com"}),
			code:  errcode.Conflict,
		},
		{
			name: "malformed id",
			when: register(RegisterCustomer{CustomerID: "sp_0b6f6c9e-3b0e-4a57-9a7e-2f1d2d2c4f10", Name: "Ada", Email: "ada@example.com"}),
			code: errcode.BadUserInput, field: "id",
		},
		{
			name: "blank name",
			when: register(RegisterCustomer{CustomerID: cusA, Name: " \t ", Email: "ada@example.com"}),
			code: errcode.BadUserInput, field: "name",
		},
		{
			name: "name of 201 characters",
			when: register(RegisterCustomer{CustomerID: cusA, Name: strings.Repeat("a", 201), Email: "ada@example.com"}),
			code: errcode.BadUserInput, field: "name",
		},
		{
			name: "name with a control character",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada\x00", Email: "ada@example.com"}),
			code: errcode.BadUserInput, field: "name",
		},
		{
			name: "missing email",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: " "}),
			code: errcode.BadUserInput, field: "email",
		},
		{
			name: "malformed email",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ada@example"}),
			code: errcode.BadUserInput, field: "email",
		},
		{
			name: "malformed phone",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ada@example.com", Phone: "030 1234567"}),
			code: errcode.BadUserInput, field: "phone",
		},
		{
			name: "street too long",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ada@example.com",
				Address: &Address{Street: strings.Repeat("s", MaxStreetLen+1)}}),
			code: errcode.BadUserInput, field: "address.street",
		},
		{
			name: "postal code too long",
			when: register(RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ada@example.com",
				Address: &Address{PostalCode: strings.Repeat("1", MaxPostalCodeLen+1)}}),
			code: errcode.BadUserInput, field: "address.postalCode",
		},
		{
			name:  "claim of another address passed (service bug)",
			given: registered(cusB, "Other", "other@example.com"),
			when: func(w world) ([]Event, error) {
				cmd := RegisterCustomer{CustomerID: cusA, Name: "Ada", Email: "ada@example.com"}
				return w.customer(cusA).Register(cmd, w.claim("other@example.com"), t2)
			},
			code: errcode.Internal,
		},
	})
}

// registeredNow is what a registration decided at t2 returns.
func registeredNow(id, name, email string) []Event {
	return []Event{
		CustomerRegistered{CustomerID: id, Name: name, Email: email, RegisteredAt: t2},
		CustomerEmailClaimed{Email: email, CustomerID: id, ClaimedAt: t2},
	}
}

// Two registrations of one email decided concurrently on the same (empty)
// claim both pass the decision; each appends to the same claim stream at
// the same expected version, so the log lets only one of them through, and
// the retried loser is refused once the winner's claim is folded in.
func TestConcurrentRegistrationsContendOnOneClaimStream(t *testing.T) {
	t.Parallel()
	w := given()
	claim := w.claim("ada@example.com")
	a, errA := Customer{}.Register(RegisterCustomer{CustomerID: cusA, Name: "A", Email: "ada@example.com"}, claim, t2)
	b, errB := Customer{}.Register(RegisterCustomer{CustomerID: cusB, Name: "B", Email: "ADA@example.com "}, claim, t2)
	if errA != nil || errB != nil {
		t.Fatalf("decisions: %v, %v", errA, errB)
	}
	if a[1].StreamID() != b[1].StreamID() || a[1].StreamID() != contract.EmailClaimStreamID("ada@example.com") {
		t.Fatalf("claims go to %q and %q", a[1].StreamID(), b[1].StreamID())
	}
	if claim.Version != 0 {
		t.Fatalf("both expect version %d, want 0", claim.Version)
	}
	w = given(a...)
	_, err := Customer{}.Register(RegisterCustomer{CustomerID: cusB, Name: "B", Email: "ada@example.com"}, w.claim("ada@example.com"), t2)
	if e := errcode.Of(err); e == nil || e.Code != errcode.Conflict || e.Field != "email" {
		t.Fatalf("retried loser: %v, want CONFLICT on email", err)
	}
}
