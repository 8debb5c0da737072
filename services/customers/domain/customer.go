package domain

import (
	"time"

	"crm/services/customers/contract"
)

// Status is a customer's lifecycle state, named as the GraphQL enum
// CustomerStatus. The zero value means the customer does not exist.
type Status string

// The customer states.
const (
	StatusActive   Status = "ACTIVE"
	StatusArchived Status = "ARCHIVED"
)

// Customer is the customer aggregate, folded from the customer's stream.
// The zero value is a customer that does not exist yet.
type Customer struct {
	ID      string
	Version int64 // number of events folded: the stream's version
	Status  Status

	Name    string
	Email   string
	Phone   string   // canonical E.164, "" when none
	Address *Address // nil when none; never shared with an event

	CreatedAt     time.Time
	UpdatedAt     time.Time
	ArchiveReason string
}

// Exists reports whether the customer has been registered.
func (c Customer) Exists() bool { return c.Status != "" }

// Apply folds one event of the customer's stream into c. Events of other
// streams' types are ignored and do not count as a version.
func (c *Customer) Apply(e Event) {
	switch e := e.(type) {
	case CustomerRegistered:
		*c = Customer{ID: e.CustomerID, Version: c.Version, Status: StatusActive,
			Name: e.Name, Email: e.Email, Phone: e.Phone, Address: copyAddress(e.Address),
			CreatedAt: e.RegisteredAt, UpdatedAt: e.RegisteredAt}
	case CustomerUpdated:
		c.Name, c.Email, c.Phone, c.Address = e.Name, e.Email, e.Phone, copyAddress(e.Address)
		c.UpdatedAt = e.UpdatedAt
	case CustomerArchived:
		c.Status = StatusArchived
		c.ArchiveReason = e.Reason
		c.UpdatedAt = e.ArchivedAt
	default:
		return
	}
	c.Version++
}

// RebuildCustomer folds a customer's stream, oldest event first.
func RebuildCustomer(events []Event) Customer {
	var c Customer
	for _, e := range events {
		c.Apply(e)
	}
	return c
}

// EmailClaim is the guard aggregate of one email address, folded from its
// claim stream (see EmailClaimStreamID). The zero value is an address no
// customer ever held.
type EmailClaim struct {
	ID      string // the claim stream id, "" until the first event
	Version int64
	Email   string // the normalized address, "" until the first event
	// Holder is the id of the customer holding the address, "" when free.
	Holder string
}

// Apply folds one event of the claim stream into e. Events of other
// streams' types are ignored and do not count as a version.
func (e *EmailClaim) Apply(ev Event) {
	switch ev := ev.(type) {
	case CustomerEmailClaimed:
		e.Email, e.Holder = ev.Email, ev.CustomerID
	case CustomerEmailReleased:
		e.Email, e.Holder = ev.Email, ""
	default:
		return
	}
	e.ID = contract.EmailClaimStreamID(e.Email)
	e.Version++
}

// RebuildEmailClaim folds a claim stream, oldest event first.
func RebuildEmailClaim(events []Event) EmailClaim {
	var e EmailClaim
	for _, ev := range events {
		e.Apply(ev)
	}
	return e
}

func copyAddress(a *Address) *Address {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

func equalAddress(a, b *Address) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
