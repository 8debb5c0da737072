package domain

import (
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// ScheduleAppointment is the command to book a new appointment.
type ScheduleAppointment struct {
	// AppointmentID is the new appointment's id, made by the service.
	AppointmentID string
	CustomerID    string
	SalespersonID string
	StartsAt      time.Time
	EndsAt        time.Time
	Location      string
}

// Facts are what the service read from its replicas of other areas.
type Facts struct {
	// Customer is the state of the command's customer.
	Customer CustomerFact
	// SalespersonKnown reports whether the command's salesperson exists.
	SalespersonKnown bool
}

// Schedule decides ScheduleAppointment on a (normally not yet existing)
// appointment a, given the salesperson's calendar cal, the facts about the
// customer and the salesperson, and the current time.
//
// It returns AppointmentScheduled and CalendarSlotBooked. Errors:
// BAD_USER_INPUT for a malformed customerId or salespersonId, a missing or
// out-of-range startsAt, endsAt not after startsAt or more than 8 hours
// later, or an empty or too long location; NOT_FOUND (field customerId or
// salespersonId) for an unknown customer or salesperson; CONFLICT when the
// appointment id is taken, the customer is archived, or the slot overlaps
// another scheduled appointment of the salesperson.
func (a Appointment) Schedule(cal Calendar, cmd ScheduleAppointment, facts Facts, now time.Time) ([]Event, error) {
	if err := checkOwnID(ids.Appointment, cmd.AppointmentID); err != nil {
		return nil, err
	}
	if err := checkID("customerId", ids.Customer, cmd.CustomerID); err != nil {
		return nil, err
	}
	if err := checkID("salespersonId", ids.Salesperson, cmd.SalespersonID); err != nil {
		return nil, err
	}
	startsAt, endsAt, err := checkTimes(cmd.StartsAt, cmd.EndsAt, now)
	if err != nil {
		return nil, err
	}
	location, err := cleanText("location", cmd.Location, true, MaxLocationLen, false)
	if err != nil {
		return nil, err
	}
	if a.Exists() {
		return nil, errcode.New(errcode.Conflict, "appointment %s already exists", cmd.AppointmentID)
	}
	if facts.Customer == CustomerUnknown {
		return nil, checkCustomer(facts.Customer, cmd.CustomerID)
	}
	if !facts.SalespersonKnown {
		return nil, notFound("salespersonId", "salesperson %s not found", cmd.SalespersonID)
	}
	if err := checkCustomer(facts.Customer, cmd.CustomerID); err != nil {
		return nil, err
	}
	if err := checkCalendar(cal, cmd.SalespersonID); err != nil {
		return nil, err
	}
	if s, ok := cal.Overlapping(startsAt, endsAt, cmd.AppointmentID); ok {
		return nil, overlapConflict(s)
	}
	return []Event{
		AppointmentScheduled{
			AppointmentID: cmd.AppointmentID,
			CustomerID:    cmd.CustomerID,
			SalespersonID: cmd.SalespersonID,
			StartsAt:      startsAt,
			EndsAt:        endsAt,
			Location:      location,
		},
		CalendarSlotBooked{
			SalespersonID: cmd.SalespersonID,
			AppointmentID: cmd.AppointmentID,
			StartsAt:      startsAt,
			EndsAt:        endsAt,
		},
	}, nil
}
