package domain

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"crm/eventlog/errcode"
	"crm/services/relationships/contract"
)

var (
	t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t0.Add(2 * time.Hour)
)

const (
	cusA  = "cus_0b6f6c9e-3b0e-4a57-9a7e-2f1d2d2c4f10"
	cusB  = "cus_1c7a7d0f-4c1f-4b68-8b8f-3a2e3e3d5a21"
	rep1  = "sp_3e9c9f2b-6e3b-4d8a-8dab-5c4a5a5f7c43"
	rep2  = "sp_4fad0a3c-7f4c-4e9b-9ebc-6d5b6b6a8d54"
	mgr1  = "sp_5abe1b4d-8a5d-4fac-afcd-7e6c7c7b9e65"
	mgr2  = "sp_6bcf2c5e-9b6e-4abd-8ade-8f7d8d8caf76"
	spNew = "sp_7cda3d6f-ac7f-4bce-9bef-9a8e9e9dba87"
	deal1 = "deal_8deb4e7a-bd8a-4cdf-acfa-ab9fafaecb98"
	deal2 = "deal_9efc5f8b-ce9b-4dea-bdab-bcaababfdca9"
)

// world holds the streams of the log, built from the given events.
type world map[string][]Event

func given(events ...Event) world {
	w := world{}
	for _, e := range events {
		w[e.StreamID()] = append(w[e.StreamID()], e)
	}
	return w
}

func (w world) salesperson(id string) Salesperson {
	if id == "" {
		return Salesperson{}
	}
	return RebuildSalesperson(w[id])
}
func (w world) claim(email string) EmailClaim {
	return RebuildEmailClaim(w[contract.EmailClaimStreamID(email)])
}
func (w world) account(id string) Account { return RebuildAccount(w[id]) }

// staff registers two managers, a rep under mgr1 and a rep without one.
var staff = []Event{
	SalespersonRegistered{SalespersonID: mgr1, Name: "Grace", Email: "grace@example.com", Role: RoleManager, RegisteredAt: t0},
	SalespersonEmailClaimed{Email: "grace@example.com", SalespersonID: mgr1, ClaimedAt: t0},
	SalespersonRegistered{SalespersonID: mgr2, Name: "Hedy", Email: "hedy@example.com", Role: RoleManager, RegisteredAt: t0},
	SalespersonEmailClaimed{Email: "hedy@example.com", SalespersonID: mgr2, ClaimedAt: t0},
	SalespersonRegistered{SalespersonID: rep1, Name: "Alan", Email: "alan@example.com", Role: RoleSalesRep, ManagerID: mgr1, RegisteredAt: t0},
	SalespersonEmailClaimed{Email: "alan@example.com", SalespersonID: rep1, ClaimedAt: t0},
	SalespersonRegistered{SalespersonID: rep2, Name: "Barbara", Email: "barbara@example.com", Role: RoleSalesRep, RegisteredAt: t0},
	SalespersonEmailClaimed{Email: "barbara@example.com", SalespersonID: rep2, ClaimedAt: t0},
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
