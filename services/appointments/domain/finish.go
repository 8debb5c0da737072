package domain

import (
	"time"

	"crm/eventlog/errcode"
)

// CancelAppointment is the command to call off a scheduled appointment.
type CancelAppointment struct {
	ID     string
	Reason string
}

// CompleteAppointment is the command to record that a scheduled appointment
// took place.
type CompleteAppointment struct {
	ID string
	// Notes are optional; empty means none.
	Notes string
}

// Cancel decides CancelAppointment on appointment a. A past appointment
// that is still SCHEDULED may be cancelled (a no-show).
//
// It returns AppointmentCancelled and CalendarSlotReleased. Errors:
// BAD_USER_INPUT for a malformed id or an empty or too long reason;
// NOT_FOUND when the appointment does not exist; CONFLICT when it is not
// SCHEDULED.
func (a Appointment) Cancel(cmd CancelAppointment) ([]Event, error) {
	if err := checkTarget(a, cmd.ID); err != nil {
		return nil, err
	}
	reason, err := cleanText("reason", cmd.Reason, true, MaxReasonLen, false)
	if err != nil {
		return nil, err
	}
	if a.Status != StatusScheduled {
		return nil, errcode.New(errcode.Conflict, "appointment %s is %s, only a scheduled one can be cancelled",
			a.ID, a.Status)
	}
	return a.cancelled(reason), nil
}

// CancelForArchivedCustomer is the reaction to the archiving of a's
// customer: a SCHEDULED appointment that starts after now is cancelled
// with reason "customer archived". Anything else (already cancelled or
// completed, or started at or before now) yields no events, so the reaction
// is idempotent and safe to redeliver. It never fails.
func (a Appointment) CancelForArchivedCustomer(now time.Time) []Event {
	if !a.Exists() || a.Status != StatusScheduled || !a.StartsAt.After(now) {
		return nil
	}
	return a.cancelled(ReasonCustomerArchived)
}

func (a Appointment) cancelled(reason string) []Event {
	return []Event{
		AppointmentCancelled{
			AppointmentID: a.ID,
			CustomerID:    a.CustomerID,
			SalespersonID: a.SalespersonID,
			StartsAt:      a.StartsAt,
			EndsAt:        a.EndsAt,
			Reason:        reason,
		},
		CalendarSlotReleased{SalespersonID: a.SalespersonID, AppointmentID: a.ID},
	}
}

// Complete decides CompleteAppointment on appointment a at time now. An
// appointment can be completed once it has started (not necessarily ended:
// meetings end early).
//
// It returns AppointmentCompleted and CalendarSlotReleased. Errors:
// BAD_USER_INPUT for a malformed id or too long notes; NOT_FOUND when the
// appointment does not exist; CONFLICT when it is not SCHEDULED or now is
// before its start.
func (a Appointment) Complete(cmd CompleteAppointment, now time.Time) ([]Event, error) {
	if err := checkTarget(a, cmd.ID); err != nil {
		return nil, err
	}
	notes, err := cleanText("notes", cmd.Notes, false, MaxNotesLen, true)
	if err != nil {
		return nil, err
	}
	if a.Status != StatusScheduled {
		return nil, errcode.New(errcode.Conflict, "appointment %s is %s, only a scheduled one can be completed",
			a.ID, a.Status)
	}
	if now.Before(a.StartsAt) {
		return nil, errcode.New(errcode.Conflict, "appointment %s has not started yet (starts %s)",
			a.ID, a.StartsAt.Format(time.RFC3339))
	}
	return []Event{
		AppointmentCompleted{
			AppointmentID: a.ID,
			CustomerID:    a.CustomerID,
			SalespersonID: a.SalespersonID,
			StartsAt:      a.StartsAt,
			EndsAt:        a.EndsAt,
			Notes:         notes,
		},
		CalendarSlotReleased{SalespersonID: a.SalespersonID, AppointmentID: a.ID},
	}, nil
}
