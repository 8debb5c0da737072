package domain

import "time"

// Status is an appointment's lifecycle state, spelled as the GraphQL enum
// AppointmentStatus.
type Status string

// The appointment statuses. The zero Status means the appointment does not
// exist.
const (
	StatusScheduled Status = "SCHEDULED"
	StatusCompleted Status = "COMPLETED"
	StatusCancelled Status = "CANCELLED"
)

// Appointment is the state of one appointment stream. The zero value is an
// appointment that does not exist yet.
type Appointment struct {
	ID string
	// Version is the number of events folded in, i.e. the stream version the
	// state reflects (0: no stream).
	Version            int64
	CustomerID         string
	SalespersonID      string
	StartsAt           time.Time
	EndsAt             time.Time
	Location           string
	Status             Status
	CancellationReason string
	Notes              string
}

// Exists reports whether the appointment has been scheduled.
func (a Appointment) Exists() bool { return a.Version > 0 }

// Apply folds one event of the appointment's stream into the state and
// advances Version by one. It never fails: events of other types (which do
// not belong in this stream) only advance the version.
func (a *Appointment) Apply(e Event) {
	a.Version++
	switch e := e.(type) {
	case AppointmentScheduled:
		a.ID = e.AppointmentID
		a.CustomerID = e.CustomerID
		a.SalespersonID = e.SalespersonID
		a.StartsAt = e.StartsAt
		a.EndsAt = e.EndsAt
		a.Location = e.Location
		a.Status = StatusScheduled
	case AppointmentRescheduled:
		a.StartsAt = e.StartsAt
		a.EndsAt = e.EndsAt
		a.Location = e.Location
	case AppointmentCancelled:
		a.Status = StatusCancelled
		a.CancellationReason = e.Reason
	case AppointmentCompleted:
		a.Status = StatusCompleted
		a.Notes = e.Notes
	}
}

// RebuildAppointment folds a stream's events, oldest first, into a fresh
// state.
func RebuildAppointment(events []Event) Appointment {
	var a Appointment
	for _, e := range events {
		a.Apply(e)
	}
	return a
}
