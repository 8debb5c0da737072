package domain

import (
	"encoding/json"
	"fmt"

	"crm/services/relationships/contract"
)

// Event is one fact of the relationships area. Its JSON form (camelCase
// fields) is the event's data in the log; EventType is its stable type name.
type Event interface {
	// EventType is the stable type name recorded in the log.
	EventType() string
	// StreamID is the id of the stream the event belongs to.
	StreamID() string
}

// The area's events are its published contract (crm/services/relationships/contract):
// the domain decides in those types.
type (
	Role                    = contract.Role
	SalespersonRegistered   = contract.SalespersonRegistered
	SalespersonEmailClaimed = contract.SalespersonEmailClaimed
	AccountTeamAssigned     = contract.AccountTeamAssigned
	InterestRecorded        = contract.InterestRecorded
	InterestRemoved         = contract.InterestRemoved
	ProductAdded            = contract.ProductAdded
)

// The roles and event type names (contract).
const (
	RoleSalesRep                = contract.RoleSalesRep
	RoleManager                 = contract.RoleManager
	TypeSalespersonRegistered   = contract.TypeSalespersonRegistered
	TypeSalespersonEmailClaimed = contract.TypeSalespersonEmailClaimed
	TypeAccountTeamAssigned     = contract.TypeAccountTeamAssigned
	TypeInterestRecorded        = contract.TypeInterestRecorded
	TypeInterestRemoved         = contract.TypeInterestRemoved
	TypeProductAdded            = contract.TypeProductAdded
)

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
