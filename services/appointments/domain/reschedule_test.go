package domain

import (
	"maps"
	"testing"
	"time"

	"crm/eventlog/errcode"
)

func TestReschedule(t *testing.T) {
	t.Parallel()
	stream := []Event{scheduled(aptA, at(10, 0), at(11, 0))}
	calendar := []Event{booked(aptA, at(10, 0), at(11, 0)), booked(aptB, at(14, 0), at(15, 0))}
	cmd := func(start, end time.Time) RescheduleAppointment {
		return RescheduleAppointment{ID: aptA, StartsAt: start, EndsAt: end}
	}
	with := func(c RescheduleAppointment, f func(*RescheduleAppointment)) RescheduleAppointment { f(&c); return c }
	moved := func(start, end time.Time, location string) []Event {
		return []Event{
			AppointmentRescheduled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
				StartsAt: start, EndsAt: end, Location: location,
				PreviousStartsAt: at(10, 0), PreviousEndsAt: at(11, 0)},
			booked(aptA, start, end),
		}
	}

	tests := []struct {
		name     string
		given    []Event
		calendar []Event
		cmd      RescheduleAppointment
		customer CustomerFact
		want     []Event
		code     errcode.Code
		field    string
	}{
		{name: "moves to a free slot, keeping the location", given: stream, calendar: calendar,
			cmd: cmd(at(12, 0), at(13, 0)), customer: CustomerActive,
			want: moved(at(12, 0), at(13, 0), "Office")},
		{name: "moves and changes the location", given: stream, calendar: calendar,
			cmd:      with(cmd(at(12, 0), at(13, 0)), func(c *RescheduleAppointment) { c.Location = ptr(" Cafe ") }),
			customer: CustomerActive, want: moved(at(12, 0), at(13, 0), "Cafe")},
		{name: "only the location changes", given: stream, calendar: calendar,
			cmd:      with(cmd(at(10, 0), at(11, 0)), func(c *RescheduleAppointment) { c.Location = ptr("Cafe") }),
			customer: CustomerActive, want: moved(at(10, 0), at(11, 0), "Cafe")},
		{name: "overlapping its own old slot is fine", given: stream, calendar: calendar,
			cmd: cmd(at(10, 30), at(11, 30)), customer: CustomerActive,
			want: moved(at(10, 30), at(11, 30), "Office")},
		{name: "back to back with another", given: stream, calendar: calendar,
			cmd: cmd(at(13, 0), at(14, 0)), customer: CustomerActive,
			want: moved(at(13, 0), at(14, 0), "Office")},
		{name: "the same times and location change nothing", given: stream, calendar: calendar,
			cmd:      with(cmd(at(10, 0), at(11, 0)), func(c *RescheduleAppointment) { c.Location = ptr("Office") }),
			customer: CustomerActive, want: nil},
		{name: "after an earlier reschedule", calendar: calendar, customer: CustomerActive,
			given: append(stream[:1:1], AppointmentRescheduled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
				StartsAt: at(12, 0), EndsAt: at(13, 0), Location: "Cafe", PreviousStartsAt: at(10, 0), PreviousEndsAt: at(11, 0)}),
			cmd: cmd(at(16, 0), at(17, 0)),
			want: []Event{
				AppointmentRescheduled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
					StartsAt: at(16, 0), EndsAt: at(17, 0), Location: "Cafe",
					PreviousStartsAt: at(12, 0), PreviousEndsAt: at(13, 0)},
				booked(aptA, at(16, 0), at(17, 0)),
			}},

		{name: "id malformed", given: stream, calendar: calendar, customer: CustomerActive,
			cmd:  with(cmd(at(12, 0), at(13, 0)), func(c *RescheduleAppointment) { c.ID = cus1 }),
			code: errcode.BadUserInput, field: "id"},
		{name: "endsAt before startsAt", given: stream, calendar: calendar, customer: CustomerActive,
			cmd: cmd(at(13, 0), at(12, 0)), code: errcode.BadUserInput, field: "endsAt"},
		{name: "longer than 8 hours", given: stream, calendar: calendar, customer: CustomerActive,
			cmd: cmd(at(8, 0), at(16, 30)), code: errcode.BadUserInput, field: "endsAt"},
		{name: "startsAt missing", given: stream, calendar: calendar, customer: CustomerActive,
			cmd: cmd(time.Time{}, at(12, 0)), code: errcode.BadUserInput, field: "startsAt"},
		{name: "location given empty", given: stream, calendar: calendar, customer: CustomerActive,
			cmd:  with(cmd(at(12, 0), at(13, 0)), func(c *RescheduleAppointment) { c.Location = ptr("  ") }),
			code: errcode.BadUserInput, field: "location"},
		{name: "appointment unknown", customer: CustomerActive, cmd: cmd(at(12, 0), at(13, 0)),
			code: errcode.NotFound, field: "id"},
		{name: "cancelled", given: append(stream[:1:1], AppointmentCancelled{AppointmentID: aptA, Reason: "x"}),
			customer: CustomerActive, cmd: cmd(at(12, 0), at(13, 0)), code: errcode.Conflict},
		{name: "completed", given: append(stream[:1:1], AppointmentCompleted{AppointmentID: aptA}),
			customer: CustomerActive, cmd: cmd(at(12, 0), at(13, 0)), code: errcode.Conflict},
		{name: "customer archived", given: stream, calendar: calendar, customer: CustomerArchived,
			cmd: cmd(at(12, 0), at(13, 0)), code: errcode.Conflict},
		{name: "customer unknown to the replica", given: stream, calendar: calendar, customer: CustomerUnknown,
			cmd: cmd(at(12, 0), at(13, 0)), code: errcode.NotFound, field: "customerId"},
		{name: "overlaps another appointment", given: stream, calendar: calendar, customer: CustomerActive,
			cmd: cmd(at(13, 30), at(14, 30)), code: errcode.Conflict},
		{name: "state of another appointment given", given: []Event{scheduled(aptB, at(14, 0), at(15, 0))},
			calendar: calendar, customer: CustomerActive, cmd: cmd(at(12, 0), at(13, 0)), code: errcode.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := RebuildAppointment(tc.given)
			cal := RebuildCalendar(sp1, tc.calendar)
			before := maps.Clone(cal.Slots)
			got, err := a.Reschedule(cal, tc.cmd, tc.customer, now)
			expect(t, got, err, tc.want, tc.code, tc.field)
			unchanged(t, before, cal)
		})
	}
}
