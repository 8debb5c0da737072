package domain

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"crm/eventlog/errcode"
)

// now is the fixed clock of every test: Monday 2026-03-02 09:00 UTC.
var now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	cmpA  = "cmp_00000000-0000-4000-8000-00000000000a"
	cmpB  = "cmp_00000000-0000-4000-8000-00000000000b"
	offA  = "off_00000000-0000-4000-8000-00000000000a"
	offB  = "off_00000000-0000-4000-8000-00000000000b"
	dealA = "deal_00000000-0000-4000-8000-00000000000a"
	dealB = "deal_00000000-0000-4000-8000-00000000000b"
	cus1  = "cus_00000000-0000-4000-8000-000000000001"
	sp1   = "sp_00000000-0000-4000-8000-000000000001"
)

// day is midnight UTC n days after now's day.
func day(n int) time.Time { return time.Date(2026, 3, 2+n, 0, 0, 0, 0, time.UTC) }

func ptr[T any](v T) *T { return &v }

func eur(amount string) Money { return Money{Amount: amount, CurrencyCode: "EUR"} }

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
// an error with the wanted code (and field; INTERNAL: an uncoded error).
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
	for i, e := range got {
		back, err := Decode(e.EventType(), []byte(g[i][len(e.EventType())+1:]))
		if err != nil || render(t, []Event{back})[0] != g[i] {
			t.Fatalf("Decode round trip of %T: %v", e, err)
		}
	}
}
