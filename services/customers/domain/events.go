package domain

import (
	"encoding/json"
	"fmt"

	"crm/services/customers/contract"
)

// Event is one fact of the customer area. Its JSON form (camelCase fields)
// is the event's data in the log; EventType is its stable type name there.
type Event interface {
	// EventType is the stable type name recorded in the log.
	EventType() string
	// StreamID is the id of the stream the event belongs to.
	StreamID() string
}

// The area's events are its published contract (crm/services/customers/contract):
// the domain decides in those types.
type (
	Address               = contract.Address
	CustomerRegistered    = contract.CustomerRegistered
	CustomerUpdated       = contract.CustomerUpdated
	CustomerArchived      = contract.CustomerArchived
	CustomerEmailClaimed  = contract.CustomerEmailClaimed
	CustomerEmailReleased = contract.CustomerEmailReleased
)

// The event type names (contract).
const (
	TypeCustomerRegistered    = contract.TypeCustomerRegistered
	TypeCustomerUpdated       = contract.TypeCustomerUpdated
	TypeCustomerArchived      = contract.TypeCustomerArchived
	TypeCustomerEmailClaimed  = contract.TypeCustomerEmailClaimed
	TypeCustomerEmailReleased = contract.TypeCustomerEmailReleased
)

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
