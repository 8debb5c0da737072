package domain

import (
	"strings"
	"testing"
	"time"

	"crm/eventlog/errcode"
)

func cancelledEvents(reason string) []Event {
	return []Event{
		AppointmentCancelled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
			StartsAt: at(10, 0), EndsAt: at(11, 0), Reason: reason},
		released(aptA),
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	stream := []Event{scheduled(aptA, at(10, 0), at(11, 0))}
	past := []Event{scheduled(aptA, now.Add(-3*time.Hour), now.Add(-2*time.Hour))}
	tests := []struct {
		name  string
		given []Event
		cmd   CancelAppointment
		want  []Event
		code  errcode.Code
		field string
	}{
		{name: "cancels with a trimmed reason", given: stream, cmd: CancelAppointment{ID: aptA, Reason: "  ill "},
			want: cancelledEvents("ill")},
		{name: "a past appointment still scheduled (no-show)", given: past, cmd: CancelAppointment{ID: aptA, Reason: "no-show"},
			want: []Event{
				AppointmentCancelled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
					StartsAt: now.Add(-3 * time.Hour), EndsAt: now.Add(-2 * time.Hour), Reason: "no-show"},
				released(aptA),
			}},
		{name: "after a reschedule", cmd: CancelAppointment{ID: aptA, Reason: "ill"},
			given: append(stream[:1:1], AppointmentRescheduled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
				StartsAt: at(12, 0), EndsAt: at(13, 0), Location: "Cafe"}),
			want: []Event{
				AppointmentCancelled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
					StartsAt: at(12, 0), EndsAt: at(13, 0), Reason: "ill"},
				released(aptA),
			}},
		{name: "reason missing", given: stream, cmd: CancelAppointment{ID: aptA},
			code: errcode.BadUserInput, field: "reason"},
		{name: "reason blank", given: stream, cmd: CancelAppointment{ID: aptA, Reason: " \n "},
			code: errcode.BadUserInput, field: "reason"},
		{name: "reason too long", given: stream, cmd: CancelAppointment{ID: aptA, Reason: strings.Repeat("x", MaxReasonLen+1)},
			code: errcode.BadUserInput, field: "reason"},
		{name: "id malformed", given: stream, cmd: CancelAppointment{ID: "apt_", Reason: "ill"},
			code: errcode.BadUserInput, field: "id"},
		{name: "appointment unknown", cmd: CancelAppointment{ID: aptA, Reason: "ill"},
			code: errcode.NotFound, field: "id"},
		{name: "already cancelled", given: append(stream[:1:1], cancelledEvents("ill")[0]),
			cmd: CancelAppointment{ID: aptA, Reason: "again"}, code: errcode.Conflict},
		{name: "completed", given: append(past[:1:1], AppointmentCompleted{AppointmentID: aptA}),
			cmd: CancelAppointment{ID: aptA, Reason: "late"}, code: errcode.Conflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := RebuildAppointment(tc.given).Cancel(tc.cmd)
			expect(t, got, err, tc.want, tc.code, tc.field)
		})
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	start := now.Add(-30 * time.Minute)
	stream := []Event{scheduled(aptA, start, start.Add(time.Hour))}
	done := func(notes string) []Event {
		return []Event{
			AppointmentCompleted{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
				StartsAt: start, EndsAt: start.Add(time.Hour), Notes: notes},
			released(aptA),
		}
	}
	tests := []struct {
		name  string
		given []Event
		cmd   CompleteAppointment
		now   time.Time
		want  []Event
		code  errcode.Code
		field string
	}{
		{name: "after it started, with trimmed multi-line notes", given: stream, now: now,
			cmd: CompleteAppointment{ID: aptA, Notes: " went well\n\tnext: offer \n"}, want: done("went well\n\tnext: offer")},
		{name: "without notes", given: stream, now: now, cmd: CompleteAppointment{ID: aptA}, want: done("")},
		{name: "exactly at its start", given: stream, now: start, cmd: CompleteAppointment{ID: aptA}, want: done("")},
		{name: "long after it ended", given: stream, now: now.Add(72 * time.Hour), cmd: CompleteAppointment{ID: aptA},
			want: done("")},
		{name: "before its start", given: stream, now: start.Add(-time.Microsecond), cmd: CompleteAppointment{ID: aptA},
			code: errcode.Conflict},
		{name: "notes too long", given: stream, now: now,
			cmd:  CompleteAppointment{ID: aptA, Notes: strings.Repeat("n", MaxNotesLen+1)},
			code: errcode.BadUserInput, field: "notes"},
		{name: "notes with a control character", given: stream, now: now,
			cmd: CompleteAppointment{ID: aptA, Notes: "a\x00b"}, code: errcode.BadUserInput, field: "notes"},
		{name: "id malformed", given: stream, now: now, cmd: CompleteAppointment{ID: "x"},
			code: errcode.BadUserInput, field: "id"},
		{name: "appointment unknown", now: now, cmd: CompleteAppointment{ID: aptA},
			code: errcode.NotFound, field: "id"},
		{name: "cancelled", given: append(stream[:1:1], AppointmentCancelled{AppointmentID: aptA, Reason: "x"}), now: now,
			cmd: CompleteAppointment{ID: aptA}, code: errcode.Conflict},
		{name: "already completed", given: append(stream[:1:1], AppointmentCompleted{AppointmentID: aptA}), now: now,
			cmd: CompleteAppointment{ID: aptA}, code: errcode.Conflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := RebuildAppointment(tc.given).Complete(tc.cmd, tc.now)
			expect(t, got, err, tc.want, tc.code, tc.field)
		})
	}
}

func TestCancelForArchivedCustomer(t *testing.T) {
	t.Parallel()
	future := []Event{scheduled(aptA, at(10, 0), at(11, 0))}
	tests := []struct {
		name  string
		given []Event
		now   time.Time
		want  []Event
	}{
		{name: "a future scheduled appointment is cancelled", given: future, now: now,
			want: cancelledEvents(ReasonCustomerArchived)},
		{name: "one starting at now is not future", given: future, now: at(10, 0)},
		{name: "one in progress is left alone", given: future, now: at(10, 30)},
		{name: "a past one is left alone", given: future, now: at(12, 0)},
		{name: "already cancelled: idempotent", given: append(future[:1:1], cancelledEvents(ReasonCustomerArchived)[0]),
			now: now},
		{name: "cancelled for another reason", given: append(future[:1:1], cancelledEvents("ill")[0]), now: now},
		{name: "completed", given: append(future[:1:1], AppointmentCompleted{AppointmentID: aptA}), now: now},
		{name: "unknown appointment", now: now},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := RebuildAppointment(tc.given).CancelForArchivedCustomer(tc.now)
			expect(t, got, nil, tc.want, "", "")
		})
	}

	// Applying the reaction's own events and reacting again (a redelivered
	// CustomerArchived) records nothing more.
	a := RebuildAppointment(future)
	for _, e := range a.CancelForArchivedCustomer(now) {
		if e.StreamID() == aptA {
			a.Apply(e)
		}
	}
	if again := a.CancelForArchivedCustomer(now); len(again) != 0 {
		t.Fatalf("second reaction recorded %v", render(t, again))
	}
}
