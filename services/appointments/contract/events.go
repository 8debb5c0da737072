package contract

import "time"

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

// EventType returns the event's type name in the log.
func (AppointmentScheduled) EventType() string { return TypeAppointmentScheduled }

// EventType returns the event's type name in the log.
func (AppointmentRescheduled) EventType() string { return TypeAppointmentRescheduled }

// EventType returns the event's type name in the log.
func (AppointmentCancelled) EventType() string { return TypeAppointmentCancelled }

// EventType returns the event's type name in the log.
func (AppointmentCompleted) EventType() string { return TypeAppointmentCompleted }

// EventType returns the event's type name in the log.
func (CalendarSlotBooked) EventType() string { return TypeCalendarSlotBooked }

// EventType returns the event's type name in the log.
func (CalendarSlotReleased) EventType() string { return TypeCalendarSlotReleased }

// StreamID is the stream the event is recorded in: the appointment's id.
func (e AppointmentScheduled) StreamID() string { return e.AppointmentID }

// StreamID is the stream the event is recorded in: the appointment's id.
func (e AppointmentRescheduled) StreamID() string { return e.AppointmentID }

// StreamID is the stream the event is recorded in: the appointment's id.
func (e AppointmentCancelled) StreamID() string { return e.AppointmentID }

// StreamID is the stream the event is recorded in: the appointment's id.
func (e AppointmentCompleted) StreamID() string { return e.AppointmentID }

// StreamID is the stream the event is recorded in: the salesperson's calendar.
func (e CalendarSlotBooked) StreamID() string { return CalendarStreamID(e.SalespersonID) }

// StreamID is the stream the event is recorded in: the salesperson's calendar.
func (e CalendarSlotReleased) StreamID() string { return CalendarStreamID(e.SalespersonID) }
