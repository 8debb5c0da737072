package contract

import "time"

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

// EventType returns the event's type name in the log.
func (CustomerRegistered) EventType() string { return TypeCustomerRegistered }

// EventType returns the event's type name in the log.
func (CustomerUpdated) EventType() string { return TypeCustomerUpdated }

// EventType returns the event's type name in the log.
func (CustomerArchived) EventType() string { return TypeCustomerArchived }

// EventType returns the event's type name in the log.
func (CustomerEmailClaimed) EventType() string { return TypeCustomerEmailClaimed }

// EventType returns the event's type name in the log.
func (CustomerEmailReleased) EventType() string { return TypeCustomerEmailReleased }

// StreamID is the stream the event is recorded in: the customer's id.
func (e CustomerRegistered) StreamID() string { return e.CustomerID }

// StreamID is the stream the event is recorded in: the customer's id.
func (e CustomerUpdated) StreamID() string { return e.CustomerID }

// StreamID is the stream the event is recorded in: the customer's id.
func (e CustomerArchived) StreamID() string { return e.CustomerID }

// StreamID is the stream the event is recorded in: the email's claim stream.
func (e CustomerEmailClaimed) StreamID() string { return EmailClaimStreamID(e.Email) }

// StreamID is the stream the event is recorded in: the email's claim stream.
func (e CustomerEmailReleased) StreamID() string { return EmailClaimStreamID(e.Email) }
