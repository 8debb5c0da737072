package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one fact of the relationships area. Its JSON form (camelCase
// fields) is the event's data in the log; EventType is its stable type name.
type Event interface {
	// EventType is the stable type name recorded in the log.
	EventType() string
	// StreamID is the id of the stream the event belongs to.
	StreamID() string
}

// The event type names. They are part of the log's format: never rename.
const (
	TypeSalespersonRegistered   = "SalespersonRegistered"
	TypeSalespersonEmailClaimed = "SalespersonEmailClaimed"
	TypeAccountTeamAssigned     = "AccountTeamAssigned"
	TypeInterestRecorded        = "InterestRecorded"
	TypeInterestRemoved         = "InterestRemoved"
	TypeProductAdded            = "ProductAdded"
)

// SalespersonRegistered: a salesperson joined. ManagerID is "" when none.
type SalespersonRegistered struct {
	SalespersonID string    `json:"salespersonId"`
	Name          string    `json:"name"`
	Email         string    `json:"email"`
	Role          Role      `json:"role"`
	ManagerID     string    `json:"managerId,omitempty"`
	RegisteredAt  time.Time `json:"registeredAt"`
}

// SalespersonEmailClaimed: the salesperson holds the email address from now
// on. Recorded in the email's claim stream.
type SalespersonEmailClaimed struct {
	Email         string    `json:"email"`
	SalespersonID string    `json:"salespersonId"`
	ClaimedAt     time.Time `json:"claimedAt"`
}

// AccountTeamAssigned: the customer's account team is now this sales rep
// and manager (ManagerID "" when none); it replaces any earlier team.
type AccountTeamAssigned struct {
	CustomerID string    `json:"customerId"`
	SalesRepID string    `json:"salesRepId"`
	ManagerID  string    `json:"managerId,omitempty"`
	AssignedAt time.Time `json:"assignedAt"`
}

// InterestRecorded: the customer has a new interest. Interests is the
// customer's full list afterwards, in the order they were recorded.
type InterestRecorded struct {
	CustomerID string    `json:"customerId"`
	Interest   string    `json:"interest"`
	Interests  []string  `json:"interests"`
	RecordedAt time.Time `json:"recordedAt"`
}

// InterestRemoved: the customer lost an interest; Interest is spelled as it
// was recorded. Interests is the full list afterwards (possibly empty).
type InterestRemoved struct {
	CustomerID string    `json:"customerId"`
	Interest   string    `json:"interest"`
	Interests  []string  `json:"interests"`
	RemovedAt  time.Time `json:"removedAt"`
}

// ProductAdded: the customer owns the product of a won deal. Products is the
// customer's full list afterwards (each product once, case-insensitively).
type ProductAdded struct {
	CustomerID string    `json:"customerId"`
	DealID     string    `json:"dealId"`
	Product    string    `json:"product"`
	Products   []string  `json:"products"`
	AddedAt    time.Time `json:"addedAt"`
}

// EventType implements Event.
func (SalespersonRegistered) EventType() string { return TypeSalespersonRegistered }

// EventType implements Event.
func (SalespersonEmailClaimed) EventType() string { return TypeSalespersonEmailClaimed }

// EventType implements Event.
func (AccountTeamAssigned) EventType() string { return TypeAccountTeamAssigned }

// EventType implements Event.
func (InterestRecorded) EventType() string { return TypeInterestRecorded }

// EventType implements Event.
func (InterestRemoved) EventType() string { return TypeInterestRemoved }

// EventType implements Event.
func (ProductAdded) EventType() string { return TypeProductAdded }

// StreamID implements Event: the salesperson's id.
func (e SalespersonRegistered) StreamID() string { return e.SalespersonID }

// StreamID implements Event: the email's claim stream.
func (e SalespersonEmailClaimed) StreamID() string { return EmailClaimStreamID(e.Email) }

// StreamID implements Event: the customer's account stream.
func (e AccountTeamAssigned) StreamID() string { return e.CustomerID }

// StreamID implements Event: the customer's account stream.
func (e InterestRecorded) StreamID() string { return e.CustomerID }

// StreamID implements Event: the customer's account stream.
func (e InterestRemoved) StreamID() string { return e.CustomerID }

// StreamID implements Event: the customer's account stream.
func (e ProductAdded) StreamID() string { return e.CustomerID }

// EventTypes returns every event type name Decode knows, e.g. for a
// projector to declare what it consumes.
func EventTypes() []string {
	return []string{TypeSalespersonRegistered, TypeSalespersonEmailClaimed, TypeAccountTeamAssigned,
		TypeInterestRecorded, TypeInterestRemoved, TypeProductAdded}
}

// Decode returns the event of the given type whose JSON data is data. An
// unknown type or malformed data is an error. Unknown JSON fields are
// ignored, so older code reads events written by newer code.
func Decode(eventType string, data []byte) (Event, error) {
	switch eventType {
	case TypeSalespersonRegistered:
		return decode[SalespersonRegistered](eventType, data)
	case TypeSalespersonEmailClaimed:
		return decode[SalespersonEmailClaimed](eventType, data)
	case TypeAccountTeamAssigned:
		return decode[AccountTeamAssigned](eventType, data)
	case TypeInterestRecorded:
		return decode[InterestRecorded](eventType, data)
	case TypeInterestRemoved:
		return decode[InterestRemoved](eventType, data)
	case TypeProductAdded:
		return decode[ProductAdded](eventType, data)
	}
	return nil, fmt.Errorf("relationships: unknown event type %q", eventType)
}

func decode[E Event](eventType string, data []byte) (Event, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("relationships: decode %s: %w", eventType, err)
	}
	return e, nil
}
