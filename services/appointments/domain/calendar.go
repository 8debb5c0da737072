package domain

import "time"

// Slot is the time an appointment holds in a calendar: the half-open
// interval [StartsAt, EndsAt), so back-to-back appointments do not overlap.
type Slot struct {
	AppointmentID string
	StartsAt      time.Time
	EndsAt        time.Time
}

// Calendar is the state of one salesperson's calendar stream: the slots of
// their scheduled appointments. The zero value is an empty calendar with no
// stream yet.
type Calendar struct {
	SalespersonID string
	// Version is the calendar stream's version the state reflects.
	Version int64
	// Slots by appointment id. Apply mutates the map in place: copy the
	// Calendar (and the map) before applying if the old value must survive.
	Slots map[string]Slot
}

// Apply folds one event of the calendar stream into the state and advances
// Version by one. It never fails: events of other types only advance the
// version.
func (c *Calendar) Apply(e Event) {
	c.Version++
	switch e := e.(type) {
	case CalendarSlotBooked:
		c.SalespersonID = e.SalespersonID
		if c.Slots == nil {
			c.Slots = make(map[string]Slot)
		}
		c.Slots[e.AppointmentID] = Slot{AppointmentID: e.AppointmentID, StartsAt: e.StartsAt, EndsAt: e.EndsAt}
	case CalendarSlotReleased:
		c.SalespersonID = e.SalespersonID
		delete(c.Slots, e.AppointmentID)
	}
}

// RebuildCalendar folds the events of salespersonID's calendar stream,
// oldest first, into a fresh state (an empty calendar for no events).
func RebuildCalendar(salespersonID string, events []Event) Calendar {
	c := Calendar{SalespersonID: salespersonID}
	for _, e := range events {
		c.Apply(e)
	}
	return c
}

// Overlapping returns a slot, other than the one of appointment except,
// that overlaps [start, end), and whether there is one. Among several it
// returns the earliest (then the smallest id), so refusals are
// deterministic.
func (c Calendar) Overlapping(start, end time.Time, except string) (Slot, bool) {
	var found Slot
	ok := false
	for id, s := range c.Slots {
		if id == except || !s.StartsAt.Before(end) || !start.Before(s.EndsAt) {
			continue
		}
		if !ok || s.StartsAt.Before(found.StartsAt) ||
			s.StartsAt.Equal(found.StartsAt) && s.AppointmentID < found.AppointmentID {
			found, ok = s, true
		}
	}
	return found, ok
}
