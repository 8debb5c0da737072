package domain

import (
	"maps"
	"strings"
	"testing"
	"time"

	"crm/eventlog/errcode"
	"crm/services/appointments/contract"
)

func TestSchedule(t *testing.T) {
	t.Parallel()
	active := Facts{Customer: CustomerActive, SalespersonKnown: true}
	cmd := func(start, end time.Time) ScheduleAppointment {
		return ScheduleAppointment{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
			StartsAt: start, EndsAt: end, Location: "Office"}
	}
	with := func(c ScheduleAppointment, f func(*ScheduleAppointment)) ScheduleAppointment { f(&c); return c }
	ok := cmd(at(10, 0), at(11, 0))
	busy := []Event{booked(aptB, at(10, 0), at(11, 0))}
	berlin := time.FixedZone("CET", 3600)

	tests := []struct {
		name     string
		given    []Event // the appointment's stream
		calendar []Event // the salesperson's calendar stream
		cmd      ScheduleAppointment
		facts    Facts
		want     []Event
		code     errcode.Code
		field    string
	}{
		{name: "books a free slot", cmd: ok, facts: active,
			want: []Event{scheduled(aptA, at(10, 0), at(11, 0)), booked(aptA, at(10, 0), at(11, 0))}},
		{name: "normalizes location and times to trimmed, UTC, microseconds", facts: active,
			cmd: with(ok, func(c *ScheduleAppointment) {
				c.Location = "  Office  "
				c.StartsAt = time.Date(2026, 3, 3, 11, 0, 0, 123456789, berlin)
				c.EndsAt = time.Date(2026, 3, 3, 12, 0, 0, 0, berlin)
			}),
			want: []Event{
				scheduled(aptA, at(10, 0).Add(123456*time.Microsecond), at(11, 0)),
				booked(aptA, at(10, 0).Add(123456*time.Microsecond), at(11, 0)),
			}},
		{name: "back to back with another appointment", calendar: busy, facts: active,
			cmd:  cmd(at(11, 0), at(12, 0)),
			want: []Event{scheduled(aptA, at(11, 0), at(12, 0)), booked(aptA, at(11, 0), at(12, 0))}},
		{name: "ending when another starts", calendar: busy, facts: active,
			cmd:  cmd(at(9, 0), at(10, 0)),
			want: []Event{scheduled(aptA, at(9, 0), at(10, 0)), booked(aptA, at(9, 0), at(10, 0))}},
		{name: "a released slot is free again", calendar: append(busy, released(aptB)), facts: active,
			cmd:  ok,
			want: []Event{scheduled(aptA, at(10, 0), at(11, 0)), booked(aptA, at(10, 0), at(11, 0))}},
		{name: "exactly 8 hours", facts: active, cmd: cmd(at(9, 0), at(17, 0)),
			want: []Event{scheduled(aptA, at(9, 0), at(17, 0)), booked(aptA, at(9, 0), at(17, 0))}},
		{name: "in the past, recorded after the fact", facts: active, cmd: cmd(now.Add(-48*time.Hour), now.Add(-47*time.Hour)),
			want: []Event{scheduled(aptA, now.Add(-48*time.Hour), now.Add(-47*time.Hour)),
				booked(aptA, now.Add(-48*time.Hour), now.Add(-47*time.Hour))}},

		{name: "customerId missing", facts: active, cmd: with(ok, func(c *ScheduleAppointment) { c.CustomerID = "" }),
			code: errcode.BadUserInput, field: "customerId"},
		{name: "customerId malformed", facts: active, cmd: with(ok, func(c *ScheduleAppointment) { c.CustomerID = "cus_1" }),
			code: errcode.BadUserInput, field: "customerId"},
		{name: "customerId of another type", facts: active, cmd: with(ok, func(c *ScheduleAppointment) { c.CustomerID = sp1 }),
			code: errcode.BadUserInput, field: "customerId"},
		{name: "salespersonId malformed", facts: active, cmd: with(ok, func(c *ScheduleAppointment) { c.SalespersonID = cus1 }),
			code: errcode.BadUserInput, field: "salespersonId"},
		{name: "startsAt missing", facts: active, cmd: with(ok, func(c *ScheduleAppointment) { c.StartsAt = time.Time{} }),
			code: errcode.BadUserInput, field: "startsAt"},
		{name: "endsAt missing", facts: active, cmd: with(ok, func(c *ScheduleAppointment) { c.EndsAt = time.Time{} }),
			code: errcode.BadUserInput, field: "endsAt"},
		{name: "endsAt equal to startsAt", facts: active, cmd: cmd(at(10, 0), at(10, 0)),
			code: errcode.BadUserInput, field: "endsAt"},
		{name: "endsAt before startsAt", facts: active, cmd: cmd(at(11, 0), at(10, 0)),
			code: errcode.BadUserInput, field: "endsAt"},
		{name: "longer than 8 hours", facts: active, cmd: cmd(at(9, 0), at(17, 1)),
			code: errcode.BadUserInput, field: "endsAt"},
		{name: "more than 5 years ahead", facts: active, cmd: cmd(now.Add(MaxAhead+time.Hour), now.Add(MaxAhead+2*time.Hour)),
			code: errcode.BadUserInput, field: "startsAt"},
		{name: "more than a year back", facts: active, cmd: cmd(now.Add(-MaxBehind-time.Hour), now.Add(-MaxBehind)),
			code: errcode.BadUserInput, field: "startsAt"},
		{name: "location empty", facts: active, cmd: with(ok, func(c *ScheduleAppointment) { c.Location = " \t " }),
			code: errcode.BadUserInput, field: "location"},
		{name: "location too long", facts: active,
			cmd:  with(ok, func(c *ScheduleAppointment) { c.Location = strings.Repeat("é", MaxLocationLen+1) }),
			code: errcode.BadUserInput, field: "location"},
		{name: "location with a control character", facts: active,
			cmd:  with(ok, func(c *ScheduleAppointment) { c.Location = "Room\n12" }),
			code: errcode.BadUserInput, field: "location"},
		{name: "appointment id taken", given: []Event{scheduled(aptA, at(8, 0), at(9, 0))}, facts: active, cmd: ok,
			code: errcode.Conflict},
		{name: "customer unknown", facts: Facts{SalespersonKnown: true}, cmd: ok,
			code: errcode.NotFound, field: "customerId"},
		{name: "salesperson unknown", facts: Facts{Customer: CustomerActive}, cmd: ok,
			code: errcode.NotFound, field: "salespersonId"},
		{name: "customer archived", facts: Facts{Customer: CustomerArchived, SalespersonKnown: true}, cmd: ok,
			code: errcode.Conflict},
		{name: "same slot as another", calendar: busy, facts: active, cmd: ok, code: errcode.Conflict},
		{name: "overlapping its start", calendar: busy, facts: active, cmd: cmd(at(9, 30), at(10, 1)),
			code: errcode.Conflict},
		{name: "overlapping its end", calendar: busy, facts: active, cmd: cmd(at(10, 59), at(12, 0)),
			code: errcode.Conflict},
		{name: "inside another", calendar: busy, facts: active, cmd: cmd(at(10, 15), at(10, 45)),
			code: errcode.Conflict},
		{name: "around another", calendar: busy, facts: active, cmd: cmd(at(9, 0), at(12, 0)),
			code: errcode.Conflict},
		{name: "new id made badly by the service", facts: active,
			cmd:  with(ok, func(c *ScheduleAppointment) { c.AppointmentID = "apt_x" }),
			code: errcode.Internal},
		{name: "calendar of another salesperson given", facts: active,
			calendar: []Event{CalendarSlotBooked{SalespersonID: sp2, AppointmentID: aptB, StartsAt: at(8, 0), EndsAt: at(9, 0)}},
			cmd:      ok, code: errcode.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := RebuildAppointment(tc.given)
			cal := RebuildCalendar(sp1, tc.calendar)
			before := maps.Clone(cal.Slots)
			got, err := a.Schedule(cal, tc.cmd, tc.facts, now)
			expect(t, got, err, tc.want, tc.code, tc.field)
			unchanged(t, before, cal)
		})
	}
}

// TestScheduleConcurrently shows how the calendar stream serializes two
// overlapping bookings decided on the same calendar version: both decisions
// pass, but both append to the calendar stream at the version they read, so
// the event log accepts only one; the loser's retry on the new calendar
// state is refused with CONFLICT.
func TestScheduleConcurrently(t *testing.T) {
	t.Parallel()
	facts := Facts{Customer: CustomerActive, SalespersonKnown: true}
	cal := RebuildCalendar(sp1, []Event{booked(aptC, at(8, 0), at(9, 0))})
	first := ScheduleAppointment{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
		StartsAt: at(10, 0), EndsAt: at(11, 0), Location: "Office"}
	second := ScheduleAppointment{AppointmentID: aptB, CustomerID: cus2, SalespersonID: sp1,
		StartsAt: at(10, 30), EndsAt: at(11, 30), Location: "Cafe"}

	won, err := Appointment{}.Schedule(cal, first, facts, now)
	if err != nil {
		t.Fatal(err)
	}
	lost, err := Appointment{}.Schedule(cal, second, facts, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, evs := range [][]Event{won, lost} {
		if len(evs) != 2 || evs[1].StreamID() != contract.CalendarStreamID(sp1) || evs[0].StreamID() == evs[1].StreamID() {
			t.Fatalf("a booking must append to its own stream and to %s: %v", contract.CalendarStreamID(sp1), render(t, evs))
		}
	}
	// The log appends won's calendar event at version cal.Version; lost's
	// append expects the same version and fails. The service retries:
	for _, e := range won {
		if e.StreamID() == contract.CalendarStreamID(sp1) {
			cal.Apply(e)
		}
	}
	got, err := Appointment{}.Schedule(cal, second, facts, now)
	expect(t, got, err, nil, errcode.Conflict, "")
}
