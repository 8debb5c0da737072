package domain

import (
	"reflect"
	"testing"
)

// TestDecode pins the recorded form of every event type: projections and
// other areas read these field names.
func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ    string
		data   string
		want   Event
		stream string
	}{
		{TypeAppointmentScheduled,
			`{"appointmentId":"` + aptA + `","customerId":"` + cus1 + `","salespersonId":"` + sp1 +
				`","startsAt":"2026-03-03T10:00:00Z","endsAt":"2026-03-03T11:00:00Z","location":"Office"}`,
			scheduled(aptA, at(10, 0), at(11, 0)), aptA},
		{TypeAppointmentRescheduled,
			`{"appointmentId":"` + aptA + `","customerId":"` + cus1 + `","salespersonId":"` + sp1 +
				`","startsAt":"2026-03-03T12:00:00Z","endsAt":"2026-03-03T13:00:00Z","location":"Cafe",` +
				`"previousStartsAt":"2026-03-03T10:00:00Z","previousEndsAt":"2026-03-03T11:00:00Z"}`,
			AppointmentRescheduled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1, StartsAt: at(12, 0),
				EndsAt: at(13, 0), Location: "Cafe", PreviousStartsAt: at(10, 0), PreviousEndsAt: at(11, 0)}, aptA},
		{TypeAppointmentCancelled,
			`{"appointmentId":"` + aptA + `","customerId":"` + cus1 + `","salespersonId":"` + sp1 +
				`","startsAt":"2026-03-03T10:00:00Z","endsAt":"2026-03-03T11:00:00Z","reason":"ill"}`,
			cancelledEvents("ill")[0], aptA},
		{TypeAppointmentCompleted,
			`{"appointmentId":"` + aptA + `","customerId":"` + cus1 + `","salespersonId":"` + sp1 +
				`","startsAt":"2026-03-03T10:00:00Z","endsAt":"2026-03-03T11:00:00Z","notes":"ok"}`,
			AppointmentCompleted{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
				StartsAt: at(10, 0), EndsAt: at(11, 0), Notes: "ok"}, aptA},
		{TypeCalendarSlotBooked,
			`{"salespersonId":"` + sp1 + `","appointmentId":"` + aptA +
				`","startsAt":"2026-03-03T10:00:00Z","endsAt":"2026-03-03T11:00:00Z"}`,
			booked(aptA, at(10, 0), at(11, 0)), "calendar-" + sp1},
		{TypeCalendarSlotReleased, `{"salespersonId":"` + sp1 + `","appointmentId":"` + aptA + `"}`,
			released(aptA), "calendar-" + sp1},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			got, err := Decode(tc.typ, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode = %#v, want %#v", got, tc.want)
			}
			if got.EventType() != tc.typ || got.StreamID() != tc.stream {
				t.Fatalf("EventType, StreamID = %q, %q; want %q, %q", got.EventType(), got.StreamID(), tc.typ, tc.stream)
			}
			if r := render(t, []Event{got})[0]; r != tc.typ+" "+tc.data {
				t.Fatalf("encoded as %s", r)
			}
		})
	}
	if _, err := Decode("CustomerRegistered", []byte(`{}`)); err == nil {
		t.Error("unknown type decoded")
	}
	if _, err := Decode(TypeAppointmentScheduled, []byte(`{"startsAt":1}`)); err == nil {
		t.Error("bad data decoded")
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	a := RebuildAppointment([]Event{
		scheduled(aptA, at(10, 0), at(11, 0)),
		AppointmentRescheduled{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1,
			StartsAt: at(12, 0), EndsAt: at(13, 0), Location: "Cafe"},
		AppointmentCompleted{AppointmentID: aptA, CustomerID: cus1, SalespersonID: sp1, Notes: "ok"},
	})
	want := Appointment{ID: aptA, Version: 3, CustomerID: cus1, SalespersonID: sp1, StartsAt: at(12, 0),
		EndsAt: at(13, 0), Location: "Cafe", Status: StatusCompleted, Notes: "ok"}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("state = %+v\nwant    %+v", a, want)
	}
	a = RebuildAppointment([]Event{scheduled(aptA, at(10, 0), at(11, 0)), cancelledEvents("ill")[0]})
	if a.Status != StatusCancelled || a.CancellationReason != "ill" || a.Version != 2 {
		t.Fatalf("cancelled state = %+v", a)
	}
	if (Appointment{}).Exists() || !a.Exists() {
		t.Fatal("Exists is wrong")
	}

	c := RebuildCalendar(sp1, []Event{
		booked(aptA, at(10, 0), at(11, 0)),
		booked(aptB, at(12, 0), at(13, 0)),
		booked(aptA, at(14, 0), at(15, 0)), // a reschedule replaces the slot
		released(aptB),
	})
	wantSlots := map[string]Slot{aptA: {AppointmentID: aptA, StartsAt: at(14, 0), EndsAt: at(15, 0)}}
	if c.Version != 4 || c.SalespersonID != sp1 || !reflect.DeepEqual(c.Slots, wantSlots) {
		t.Fatalf("calendar = %+v", c)
	}
	if empty := RebuildCalendar(sp2, nil); empty.SalespersonID != sp2 || empty.Version != 0 {
		t.Fatalf("empty calendar = %+v", empty)
	}
}

func TestOverlappingIsDeterministic(t *testing.T) {
	t.Parallel()
	c := RebuildCalendar(sp1, []Event{
		booked(aptC, at(12, 0), at(13, 0)),
		booked(aptB, at(10, 0), at(11, 0)),
		booked(aptA, at(10, 0), at(10, 30)),
	})
	for range 20 {
		s, ok := c.Overlapping(at(9, 0), at(17, 0), "")
		if !ok || s.AppointmentID != aptA {
			t.Fatalf("Overlapping = %v, %v; want the earliest, smallest id %s", s, ok, aptA)
		}
	}
	if s, ok := c.Overlapping(at(9, 0), at(17, 0), aptA); !ok || s.AppointmentID != aptB {
		t.Fatalf("Overlapping except %s = %v, %v", aptA, s, ok)
	}
	if _, ok := c.Overlapping(at(11, 0), at(12, 0), ""); ok {
		t.Fatal("a gap between slots overlaps")
	}
}
