package domain

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"crm/eventlog/errcode"
)

// now is the fixed clock of every test: Monday 2026-03-02 09:00 UTC.
var now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	aptA = "apt_00000000-0000-4000-8000-00000000000a"
	aptB = "apt_00000000-0000-4000-8000-00000000000b"
	aptC = "apt_00000000-0000-4000-8000-00000000000c"
	cus1 = "cus_00000000-0000-4000-8000-000000000001"
	cus2 = "cus_00000000-0000-4000-8000-000000000002"
	sp1  = "sp_00000000-0000-4000-8000-000000000001"
	sp2  = "sp_00000000-0000-4000-8000-000000000002"
)

// at is a time on the day after now (the appointments' usual day).
func at(hour, minute int) time.Time {
	return time.Date(2026, 3, 3, hour, minute, 0, 0, time.UTC)
}

func ptr[T any](v T) *T { return &v }

// scheduled is the event that creates appointment id for cus1 with sp1.
func scheduled(id string, start, end time.Time) AppointmentScheduled {
	return AppointmentScheduled{AppointmentID: id, CustomerID: cus1, SalespersonID: sp1,
		StartsAt: start, EndsAt: end, Location: "Office"}
}

func booked(id string, start, end time.Time) CalendarSlotBooked {
	return CalendarSlotBooked{SalespersonID: sp1, AppointmentID: id, StartsAt: start, EndsAt: end}
}

func released(id string) CalendarSlotReleased {
	return CalendarSlotReleased{SalespersonID: sp1, AppointmentID: id}
}

// render is an event list as "Type {json}" lines: comparing these checks
// the recorded form, not Go values (time zones, pointers).
func render(t *testing.T, events []Event) []string {
	t.Helper()
	out := make([]string, 0, len(events))
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("marshal %T: %v", e, err)
		}
		out = append(out, e.EventType()+" "+string(b))
	}
	return out
}

// expect checks a decision's outcome: the wanted events, or no events and
// an error with the wanted code (and field, when one is given).
func expect(t *testing.T, got []Event, err error, want []Event, code errcode.Code, field string) {
	t.Helper()
	if code == errcode.Internal {
		if len(got) != 0 || errcode.CodeOf(err) != errcode.Internal {
			t.Fatalf("got %v, %v; want an internal error and no events", render(t, got), err)
		}
		return
	}
	if code != "" {
		if len(got) != 0 {
			t.Errorf("refusal recorded events: %v", render(t, got))
		}
		e := errcode.Of(err)
		if e == nil {
			t.Fatalf("error = %v, want code %s", err, code)
		}
		if e.Code != code || e.Field != field {
			t.Fatalf("error = %v (code %s, field %q), want code %s field %q", err, e.Code, e.Field, code, field)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	g, w := render(t, got), render(t, want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("events:\n got  %s\n want %s", strings.Join(g, "\n      "), strings.Join(w, "\n      "))
	}
	for _, e := range got {
		back, err := Decode(e.EventType(), []byte(render(t, []Event{e})[0][len(e.EventType())+1:]))
		if err != nil || !reflect.DeepEqual(render(t, []Event{back}), render(t, []Event{e})) {
			t.Fatalf("Decode round trip of %T: %v", e, err)
		}
	}
}

// unchanged fails when a decision changed the calendar it was given.
func unchanged(t *testing.T, before map[string]Slot, cal Calendar) {
	t.Helper()
	if !maps.Equal(before, cal.Slots) {
		t.Fatalf("decision mutated the calendar: %v -> %v", before, cal.Slots)
	}
}
