package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one fact recorded by the appointments area. Its JSON encoding
// (encoding/json, camelCase fields) is the event's data in the log.
type Event interface {
	// EventType is the stable type name stored with the event.
	EventType() string
	// StreamID is the stream the event is appended to.
	StreamID() string
}

// The stable event type names.
const (
	TypeAppointmentScheduled   = "AppointmentScheduled"
	TypeAppointmentRescheduled = "AppointmentRescheduled"
	TypeAppointmentCancelled   = "AppointmentCancelled"
	TypeAppointmentCompleted   = "AppointmentCompleted"
	TypeCalendarSlotBooked     = "CalendarSlotBooked"
	TypeCalendarSlotReleased   = "CalendarSlotReleased"
)

// AppointmentScheduled: a new appointment exists, status SCHEDULED.
type AppointmentScheduled struct {
	AppointmentID string    `json:"appointmentId"`
	CustomerID    string    `json:"customerId"`
	SalespersonID string    `json:"salespersonId"`
	StartsAt      time.Time `json:"startsAt"`
	EndsAt        time.Time `json:"endsAt"`
	Location      string    `json:"location"`
}

// AppointmentRescheduled: a scheduled appointment moved. StartsAt, EndsAt
// and Location are the full new values (Location unchanged when the command
// gave none); the Previous fields let a projection drop the old slot.
type AppointmentRescheduled struct {
	AppointmentID    string    `json:"appointmentId"`
	CustomerID       string    `json:"customerId"`
	SalespersonID    string    `json:"salespersonId"`
	StartsAt         time.Time `json:"startsAt"`
	EndsAt           time.Time `json:"endsAt"`
	Location         string    `json:"location"`
	PreviousStartsAt time.Time `json:"previousStartsAt"`
	PreviousEndsAt   time.Time `json:"previousEndsAt"`
}

// AppointmentCancelled: a scheduled appointment was cancelled, status
// CANCELLED. StartsAt and EndsAt are the times it had.
type AppointmentCancelled struct {
	AppointmentID string    `json:"appointmentId"`
	CustomerID    string    `json:"customerId"`
	SalespersonID string    `json:"salespersonId"`
	StartsAt      time.Time `json:"startsAt"`
	EndsAt        time.Time `json:"endsAt"`
	Reason        string    `json:"reason"`
}

// AppointmentCompleted: a scheduled appointment took place, status
// COMPLETED. Notes is empty when none were given.
type AppointmentCompleted struct {
	AppointmentID string    `json:"appointmentId"`
	CustomerID    string    `json:"customerId"`
	SalespersonID string    `json:"salespersonId"`
	StartsAt      time.Time `json:"startsAt"`
	EndsAt        time.Time `json:"endsAt"`
	Notes         string    `json:"notes,omitempty"`
}

// CalendarSlotBooked: the salesperson's calendar holds [StartsAt, EndsAt)
// for the appointment, replacing any slot that appointment held before.
type CalendarSlotBooked struct {
	SalespersonID string    `json:"salespersonId"`
	AppointmentID string    `json:"appointmentId"`
	StartsAt      time.Time `json:"startsAt"`
	EndsAt        time.Time `json:"endsAt"`
}

// CalendarSlotReleased: the appointment no longer holds a slot in the
// salesperson's calendar.
type CalendarSlotReleased struct {
	SalespersonID string `json:"salespersonId"`
	AppointmentID string `json:"appointmentId"`
}

// EventType implements Event.
func (AppointmentScheduled) EventType() string { return TypeAppointmentScheduled }

// EventType implements Event.
func (AppointmentRescheduled) EventType() string { return TypeAppointmentRescheduled }

// EventType implements Event.
func (AppointmentCancelled) EventType() string { return TypeAppointmentCancelled }

// EventType implements Event.
func (AppointmentCompleted) EventType() string { return TypeAppointmentCompleted }

// EventType implements Event.
func (CalendarSlotBooked) EventType() string { return TypeCalendarSlotBooked }

// EventType implements Event.
func (CalendarSlotReleased) EventType() string { return TypeCalendarSlotReleased }

// StreamID implements Event: the appointment's id.
func (e AppointmentScheduled) StreamID() string { return e.AppointmentID }

// StreamID implements Event: the appointment's id.
func (e AppointmentRescheduled) StreamID() string { return e.AppointmentID }

// StreamID implements Event: the appointment's id.
func (e AppointmentCancelled) StreamID() string { return e.AppointmentID }

// StreamID implements Event: the appointment's id.
func (e AppointmentCompleted) StreamID() string { return e.AppointmentID }

// StreamID implements Event: the salesperson's calendar.
func (e CalendarSlotBooked) StreamID() string { return CalendarStreamID(e.SalespersonID) }

// StreamID implements Event: the salesperson's calendar.
func (e CalendarSlotReleased) StreamID() string { return CalendarStreamID(e.SalespersonID) }

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
