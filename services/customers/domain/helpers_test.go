package domain

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"crm/eventlog/errcode"
	"crm/services/customers/contract"
)

var (
	t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t0.Add(2 * time.Hour)
)

const (
	cusA = "cus_0b6f6c9e-3b0e-4a57-9a7e-2f1d2d2c4f10"
	cusB = "cus_1c7a7d0f-4c1f-4b68-8b8f-3a2e3e3d5a21"
	cusC = "cus_2d8b8e1a-5d2a-4c79-9c9a-4b3f4f4e6b32"
)

func ptr[T any](v T) *T { return &v }

// world holds the streams of the log, built from the given events.
type world map[string][]Event

func given(events ...Event) world {
	w := world{}
	for _, e := range events {
		w[e.StreamID()] = append(w[e.StreamID()], e)
	}
	return w
}

func (w world) customer(id string) Customer { return RebuildCustomer(w[id]) }
func (w world) claim(email string) EmailClaim {
	return RebuildEmailClaim(w[contract.EmailClaimStreamID(email)])
}

// registered returns the events of a registration of id with email.
func registered(id, name, email string) []Event {
	return []Event{
		CustomerRegistered{CustomerID: id, Name: name, Email: email, RegisteredAt: t0},
		CustomerEmailClaimed{Email: email, CustomerID: id, ClaimedAt: t0},
	}
}

func archived(id, email string) []Event {
	return []Event{
		CustomerArchived{CustomerID: id, ArchivedAt: t1},
		CustomerEmailReleased{Email: email, CustomerID: id, ReleasedAt: t1},
	}
}

func concat(lists ...[]Event) []Event {
	var out []Event
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// tcase is one given/when/then case: then holds the expected events, or
// code (and field) the expected refusal. errcode.Internal stands for an
// error without a code.
type tcase struct {
	name  string
	given []Event
	when  func(w world) ([]Event, error)
	then  []Event
	code  errcode.Code
	field string
}

func run(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.when(given(tc.given...))
			if tc.code != "" {
				if errcode.CodeOf(err) != tc.code {
					t.Fatalf("error = %v, want code %s", err, tc.code)
				}
				if e := errcode.Of(err); e != nil && e.Field != tc.field {
					t.Fatalf("error field = %q, want %q (%v)", e.Field, tc.field, err)
				}
				if got != nil {
					t.Fatalf("refusal returned events %#v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events:\n got %#v\nwant %#v", got, tc.then)
			}
			for _, e := range got {
				roundTrip(t, e)
			}
		})
	}
}

// roundTrip checks that e survives encoding and Decode unchanged.
func roundTrip(t *testing.T, e Event) {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("marshal %T: %v", e, err)
	}
	back, err := Decode(e.EventType(), data)
	if err != nil {
		t.Fatalf("decode %s: %v", e.EventType(), err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip of %s:\n got %#v\nwant %#v", e.EventType(), back, e)
	}
}
