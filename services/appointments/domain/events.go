package domain

import (
	"encoding/json"
	"fmt"

	"crm/services/appointments/contract"
)

// Event is one fact recorded by the appointments area. Its JSON encoding
// (encoding/json, camelCase fields) is the event's data in the log.
type Event interface {
	// EventType is the stable type name stored with the event.
	EventType() string
	// StreamID is the stream the event is appended to.
	StreamID() string
}

// The area's events are its published contract (crm/services/appointments/contract):
// the domain decides in those types.
type (
	AppointmentScheduled   = contract.AppointmentScheduled
	AppointmentRescheduled = contract.AppointmentRescheduled
	AppointmentCancelled   = contract.AppointmentCancelled
	AppointmentCompleted   = contract.AppointmentCompleted
	CalendarSlotBooked     = contract.CalendarSlotBooked
	CalendarSlotReleased   = contract.CalendarSlotReleased
)

// The event type names (contract).
const (
	TypeAppointmentScheduled   = contract.TypeAppointmentScheduled
	TypeAppointmentRescheduled = contract.TypeAppointmentRescheduled
	TypeAppointmentCancelled   = contract.TypeAppointmentCancelled
	TypeAppointmentCompleted   = contract.TypeAppointmentCompleted
	TypeCalendarSlotBooked     = contract.TypeCalendarSlotBooked
	TypeCalendarSlotReleased   = contract.TypeCalendarSlotReleased
)

// Decode turns a recorded event back into its struct. It fails on an
// unknown type or on data that is not the type's JSON.
func Decode(eventType string, data []byte) (Event, error) {
	switch eventType {
	case TypeAppointmentScheduled:
		return decodeAs[AppointmentScheduled](eventType, data)
	case TypeAppointmentRescheduled:
		return decodeAs[AppointmentRescheduled](eventType, data)
	case TypeAppointmentCancelled:
		return decodeAs[AppointmentCancelled](eventType, data)
	case TypeAppointmentCompleted:
		return decodeAs[AppointmentCompleted](eventType, data)
	case TypeCalendarSlotBooked:
		return decodeAs[CalendarSlotBooked](eventType, data)
	case TypeCalendarSlotReleased:
		return decodeAs[CalendarSlotReleased](eventType, data)
	}
	return nil, fmt.Errorf("appointments: unknown event type %q", eventType)
}

func decodeAs[T Event](eventType string, data []byte) (Event, error) {
	var e T
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("appointments: decode %s: %w", eventType, err)
	}
	return e, nil
}
