package domain

import (
	"reflect"
	"testing"

	"crm/services/customers/contract"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	all := []Event{
		CustomerRegistered{CustomerID: cusA, Name: "Ada", Email: "ada@example.com", Phone: "+49301234567",
			Address: &Address{Street: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "DE"}, RegisteredAt: t0},
		CustomerUpdated{CustomerID: cusA, Name: "Ada", Email: "ada@example.com", Changed: []string{"phone"}, UpdatedAt: t1},
		CustomerArchived{CustomerID: cusA, Reason: "gone", ArchivedAt: t2},
		CustomerEmailClaimed{Email: "ada@example.com", CustomerID: cusA, ClaimedAt: t0},
		CustomerEmailReleased{Email: "ada@example.com", CustomerID: cusA, ReleasedAt: t2},
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
	if _, err := Decode("CustomerDeleted", []byte(`{}`)); err == nil {
		t.Error("unknown type decoded")
	}
	if _, err := Decode(TypeCustomerRegistered, []byte(`{"customerId":`)); err == nil {
		t.Error("malformed data decoded")
	}
	e, err := Decode(TypeCustomerArchived, []byte(`{"customerId":"`+cusA+`","archivedAt":"2025-03-01T11:00:00Z","future":1}`))
	if err != nil || !reflect.DeepEqual(e, CustomerArchived{CustomerID: cusA, ArchivedAt: t2}) {
		t.Errorf("decode with an unknown field: %#v, %v", e, err)
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	w := given(concat(registered(cusA, "Ada", "ada@example.com"), []Event{
		CustomerUpdated{CustomerID: cusA, Name: "Ada King", Email: "king@example.com", Phone: "+49301234567",
			Address: &Address{City: "Berlin"}, Changed: []string{"name", "email", "phone", "address"}, UpdatedAt: t1},
		CustomerEmailClaimed{Email: "king@example.com", CustomerID: cusA, ClaimedAt: t1},
		CustomerEmailReleased{Email: "ada@example.com", CustomerID: cusA, ReleasedAt: t1},
		CustomerArchived{CustomerID: cusA, Reason: "gone", ArchivedAt: t2},
	})...)
	want := Customer{ID: cusA, Version: 3, Status: StatusArchived, Name: "Ada King", Email: "king@example.com",
		Phone: "+49301234567", Address: &Address{City: "Berlin"}, CreatedAt: t0, UpdatedAt: t2, ArchiveReason: "gone"}
	if got := w.customer(cusA); !reflect.DeepEqual(got, want) {
		t.Errorf("customer:\n got %+v\nwant %+v", got, want)
	}
	if got := w.customer(cusB); got.Exists() || got.Version != 0 {
		t.Errorf("unknown customer: %+v", got)
	}
	old := w.claim("ada@example.com")
	if old.Holder != "" || old.Version != 2 || old.Email != "ada@example.com" || old.ID != contract.EmailClaimStreamID("ada@example.com") {
		t.Errorf("released claim: %+v", old)
	}
	if cur := w.claim("king@example.com"); cur.Holder != cusA || cur.Version != 1 {
		t.Errorf("held claim: %+v", cur)
	}

	// Events of another aggregate's type are not folded and not counted.
	c := w.customer(cusA)
	c.Apply(CustomerEmailClaimed{Email: "x@example.com", CustomerID: cusA})
	if c.Version != 3 || c.Email != "king@example.com" {
		t.Errorf("customer folded a claim event: %+v", c)
	}
	cl := w.claim("king@example.com")
	cl.Apply(CustomerArchived{CustomerID: cusA})
	if cl.Version != 1 {
		t.Errorf("claim folded a customer event: %+v", cl)
	}

	// The folded address is not the event's: changing one leaves the other.
	ev := CustomerRegistered{CustomerID: cusB, Name: "B", Email: "b@example.com", Address: &Address{City: "Rome"}}
	b := RebuildCustomer([]Event{ev})
	b.Address.City = "Milan"
	if ev.Address.City != "Rome" {
		t.Error("aggregate shares its address with the event")
	}
}
