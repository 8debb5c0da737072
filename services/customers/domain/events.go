package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one fact of the customer area. Its JSON form (camelCase fields)
// is the event's data in the log; EventType is its stable type name there.
type Event interface {
	// EventType is the stable type name recorded in the log.
	EventType() string
	// StreamID is the id of the stream the event belongs to.
	StreamID() string
}

// The event type names. They are part of the log's format: never rename.
const (
	TypeCustomerRegistered    = "CustomerRegistered"
	TypeCustomerUpdated       = "CustomerUpdated"
	TypeCustomerArchived      = "CustomerArchived"
	TypeCustomerEmailClaimed  = "CustomerEmailClaimed"
	TypeCustomerEmailReleased = "CustomerEmailReleased"
)

// Address is a customer's postal address. Every field is optional; an
// address whose fields are all empty is no address.
type Address struct {
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
}

// CustomerRegistered: a customer was registered; the customer is ACTIVE.
// Values are normalized (trimmed, email lower-cased, phone canonical E.164).
type CustomerRegistered struct {
	CustomerID   string    `json:"customerId"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	Phone        string    `json:"phone,omitempty"`
	Address      *Address  `json:"address,omitempty"`
	RegisteredAt time.Time `json:"registeredAt"`
}

// CustomerUpdated: some contact fields changed. It carries the full contact
// data after the change (a read model needs no earlier event to apply it)
// and Changed, the GraphQL names of the fields that changed ("name",
// "email", "phone", "address"). An empty Phone or nil Address means none.
type CustomerUpdated struct {
	CustomerID string    `json:"customerId"`
	Name       string    `json:"name"`
	Email      string    `json:"email"`
	Phone      string    `json:"phone,omitempty"`
	Address    *Address  `json:"address,omitempty"`
	Changed    []string  `json:"changed"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// CustomerArchived: the customer is ARCHIVED for good. Other areas react to
// it (future appointments are cancelled, open deals lost).
type CustomerArchived struct {
	CustomerID string    `json:"customerId"`
	Reason     string    `json:"reason,omitempty"`
	ArchivedAt time.Time `json:"archivedAt"`
}

// CustomerEmailClaimed: an active customer now holds the email address.
// Recorded in the email's claim stream.
type CustomerEmailClaimed struct {
	Email      string    `json:"email"`
	CustomerID string    `json:"customerId"`
	ClaimedAt  time.Time `json:"claimedAt"`
}

// CustomerEmailReleased: the customer no longer holds the email address
// (archived, or changed to another address); it is free again.
type CustomerEmailReleased struct {
	Email      string    `json:"email"`
	CustomerID string    `json:"customerId"`
	ReleasedAt time.Time `json:"releasedAt"`
}

// EventType implements Event.
func (CustomerRegistered) EventType() string { return TypeCustomerRegistered }

// EventType implements Event.
func (CustomerUpdated) EventType() string { return TypeCustomerUpdated }

// EventType implements Event.
func (CustomerArchived) EventType() string { return TypeCustomerArchived }

// EventType implements Event.
func (CustomerEmailClaimed) EventType() string { return TypeCustomerEmailClaimed }

// EventType implements Event.
func (CustomerEmailReleased) EventType() string { return TypeCustomerEmailReleased }

// StreamID implements Event: the customer's id.
func (e CustomerRegistered) StreamID() string { return e.CustomerID }

// StreamID implements Event: the customer's id.
func (e CustomerUpdated) StreamID() string { return e.CustomerID }

// StreamID implements Event: the customer's id.
func (e CustomerArchived) StreamID() string { return e.CustomerID }

// StreamID implements Event: the email's claim stream.
func (e CustomerEmailClaimed) StreamID() string { return EmailClaimStreamID(e.Email) }

// StreamID implements Event: the email's claim stream.
func (e CustomerEmailReleased) StreamID() string { return EmailClaimStreamID(e.Email) }

// EventTypes returns every event type name Decode knows, e.g. for a
// projector to declare what it consumes.
func EventTypes() []string {
	return []string{TypeCustomerRegistered, TypeCustomerUpdated, TypeCustomerArchived,
		TypeCustomerEmailClaimed, TypeCustomerEmailReleased}
}

// Decode returns the event of the given type whose JSON data is data. An
// unknown type or malformed data is an error. Unknown JSON fields are
// ignored, so older code reads events written by newer code.
func Decode(eventType string, data []byte) (Event, error) {
	switch eventType {
	case TypeCustomerRegistered:
		return decode[CustomerRegistered](eventType, data)
	case TypeCustomerUpdated:
		return decode[CustomerUpdated](eventType, data)
	case TypeCustomerArchived:
		return decode[CustomerArchived](eventType, data)
	case TypeCustomerEmailClaimed:
		return decode[CustomerEmailClaimed](eventType, data)
	case TypeCustomerEmailReleased:
		return decode[CustomerEmailReleased](eventType, data)
	}
	return nil, fmt.Errorf("customers: unknown event type %q", eventType)
}

func decode[E Event](eventType string, data []byte) (Event, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("customers: decode %s: %w", eventType, err)
	}
	return e, nil
}
