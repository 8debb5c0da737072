package domain

import (
	"time"

	"crm/eventlog/errcode"
)

// RescheduleAppointment is the command to move a scheduled appointment.
type RescheduleAppointment struct {
	ID       string
	StartsAt time.Time
	EndsAt   time.Time
	// Location, when not nil, replaces the appointment's location.
	Location *string
}

// Reschedule decides RescheduleAppointment on appointment a, given its
// salesperson's calendar cal, what the replica knows about its customer and
// the current time. The rules are those of Schedule; the appointment keeps
// its customer and salesperson, and its own slot does not count as an
// overlap.
//
// It returns AppointmentRescheduled and CalendarSlotBooked, or no events
// when times and location are already those asked for. Errors:
// BAD_USER_INPUT (id, startsAt, endsAt, location) as for Schedule;
// NOT_FOUND when the appointment does not exist (or its customer is unknown
// to the replica, field customerId); CONFLICT when the appointment is not
// SCHEDULED, the customer is archived or the new slot overlaps another
// scheduled appointment of the salesperson.
func (a Appointment) Reschedule(cal Calendar, cmd RescheduleAppointment, customer CustomerFact, now time.Time) ([]Event, error) {
	if err := checkTarget(a, cmd.ID); err != nil {
		return nil, err
	}
	startsAt, endsAt, err := checkTimes(cmd.StartsAt, cmd.EndsAt, now)
	if err != nil {
		return nil, err
	}
	location := a.Location
	if cmd.Location != nil {
		if location, err = cleanText("location", *cmd.Location, true, MaxLocationLen, false); err != nil {
			return nil, err
		}
	}
	if a.Status != StatusScheduled {
		return nil, errcode.New(errcode.Conflict, "appointment %s is %s, only a scheduled one can be rescheduled",
			a.ID, a.Status)
	}
	if err := checkCustomer(customer, a.CustomerID); err != nil {
		return nil, err
	}
	if startsAt.Equal(a.StartsAt) && endsAt.Equal(a.EndsAt) && location == a.Location {
		return nil, nil
	}
	if err := checkCalendar(cal, a.SalespersonID); err != nil {
		return nil, err
	}
	if s, ok := cal.Overlapping(startsAt, endsAt, a.ID); ok {
		return nil, overlapConflict(s)
	}
	return []Event{
		AppointmentRescheduled{
			AppointmentID:    a.ID,
			CustomerID:       a.CustomerID,
			SalespersonID:    a.SalespersonID,
			StartsAt:         startsAt,
			EndsAt:           endsAt,
			Location:         location,
			PreviousStartsAt: a.StartsAt,
			PreviousEndsAt:   a.EndsAt,
		},
		CalendarSlotBooked{
			SalespersonID: a.SalespersonID,
			AppointmentID: a.ID,
			StartsAt:      startsAt,
			EndsAt:        endsAt,
		},
	}, nil
}
