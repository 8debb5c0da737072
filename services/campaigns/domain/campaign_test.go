package domain

import (
	"slices"
	"strings"
	"testing"
	"time"

	"crm/eventlog/errcode"
)

var (
	created  = CampaignCreated{CampaignID: cmpA, Name: "Spring"}
	dated    = CampaignCreated{CampaignID: cmpA, Name: "Spring", StartsAt: ptr(day(1)), EndsAt: ptr(day(30))}
	launched = CampaignLaunched{CampaignID: cmpA}
	ended    = CampaignEnded{CampaignID: cmpA}
)

func TestCreateCampaign(t *testing.T) {
	t.Parallel()
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name  string
		given []Event
		cmd   CreateCampaign
		want  []Event
		code  errcode.Code
		field string
	}{
		{name: "a draft with a trimmed name", cmd: CreateCampaign{CampaignID: cmpA, Name: "  Spring "},
			want: []Event{created}},
		{name: "with dates, normalized to UTC microseconds",
			cmd: CreateCampaign{CampaignID: cmpA, Name: "Spring",
				StartsAt: ptr(day(1).In(cet).Add(999 * time.Nanosecond)), EndsAt: ptr(day(30).In(cet))},
			want: []Event{dated}},
		{name: "only a start", cmd: CreateCampaign{CampaignID: cmpA, Name: "Spring", StartsAt: ptr(day(1))},
			want: []Event{CampaignCreated{CampaignID: cmpA, Name: "Spring", StartsAt: ptr(day(1))}}},
		{name: "only an end", cmd: CreateCampaign{CampaignID: cmpA, Name: "Spring", EndsAt: ptr(day(1))},
			want: []Event{CampaignCreated{CampaignID: cmpA, Name: "Spring", EndsAt: ptr(day(1))}}},
		{name: "name missing", cmd: CreateCampaign{CampaignID: cmpA, Name: "   "},
			code: errcode.BadUserInput, field: "name"},
		{name: "name too long", cmd: CreateCampaign{CampaignID: cmpA, Name: strings.Repeat("ü", MaxNameLen+1)},
			code: errcode.BadUserInput, field: "name"},
		{name: "name with a control character", cmd: CreateCampaign{CampaignID: cmpA, Name: "Spr\ring"},
			code: errcode.BadUserInput, field: "name"},
		{name: "endsAt equal to startsAt",
			cmd:  CreateCampaign{CampaignID: cmpA, Name: "Spring", StartsAt: ptr(day(1)), EndsAt: ptr(day(1))},
			code: errcode.BadUserInput, field: "endsAt"},
		{name: "endsAt before startsAt",
			cmd:  CreateCampaign{CampaignID: cmpA, Name: "Spring", StartsAt: ptr(day(2)), EndsAt: ptr(day(1))},
			code: errcode.BadUserInput, field: "endsAt"},
		{name: "id taken", given: []Event{created}, cmd: CreateCampaign{CampaignID: cmpA, Name: "Again"},
			code: errcode.Conflict},
		{name: "new id made badly by the service", cmd: CreateCampaign{CampaignID: offA, Name: "Spring"},
			code: errcode.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := RebuildCampaign(tc.given).Create(tc.cmd)
			expect(t, got, err, tc.want, tc.code, tc.field)
		})
	}
}

func TestLaunchAndEndCampaign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		given  []Event
		launch bool // else end
		id     string
		now    time.Time
		want   []Event
		code   errcode.Code
		field  string
	}{
		{name: "launch a draft", given: []Event{created}, launch: true, id: cmpA, now: now, want: []Event{launched}},
		{name: "launch a dated draft before its start", given: []Event{dated}, launch: true, id: cmpA, now: now,
			want: []Event{launched}},
		{name: "launch after its end date", given: []Event{dated}, launch: true, id: cmpA, now: day(30),
			code: errcode.Conflict},
		{name: "launch an active one", given: []Event{created, launched}, launch: true, id: cmpA, now: now,
			code: errcode.Conflict},
		{name: "launch an ended one", given: []Event{created, launched, ended}, launch: true, id: cmpA, now: now,
			code: errcode.Conflict},
		{name: "launch unknown", launch: true, id: cmpA, now: now, code: errcode.NotFound, field: "id"},
		{name: "launch with a malformed id", given: []Event{created}, launch: true, id: dealA, now: now,
			code: errcode.BadUserInput, field: "id"},
		{name: "launch with another campaign's state", given: []Event{created}, launch: true, id: cmpB, now: now,
			code: errcode.Internal},

		{name: "end an active one", given: []Event{created, launched}, id: cmpA, want: []Event{ended}},
		{name: "end a draft", given: []Event{created}, id: cmpA, code: errcode.Conflict},
		{name: "end an ended one", given: []Event{created, launched, ended}, id: cmpA, code: errcode.Conflict},
		{name: "end unknown", id: cmpA, code: errcode.NotFound, field: "id"},
		{name: "end with a missing id", given: []Event{created, launched}, id: "", code: errcode.BadUserInput, field: "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := RebuildCampaign(tc.given)
			var got []Event
			var err error
			if tc.launch {
				got, err = c.Launch(LaunchCampaign{ID: tc.id}, tc.now)
			} else {
				got, err = c.End(EndCampaign{ID: tc.id})
			}
			expect(t, got, err, tc.want, tc.code, tc.field)
		})
	}
}

func TestAddOffer(t *testing.T) {
	t.Parallel()
	ok := AddOffer{CampaignID: cmpA, OfferID: offA, Product: "Solar panel", DiscountPercent: 10}
	with := func(f func(*AddOffer)) AddOffer { c := ok; f(&c); return c }
	offer := OfferAdded{CampaignID: cmpA, OfferID: offA, Product: "Solar panel", DiscountPercent: 10}
	tests := []struct {
		name  string
		given []Event
		cmd   AddOffer
		want  []Event
		code  errcode.Code
		field string
	}{
		{name: "to a draft", given: []Event{created}, cmd: ok, want: []Event{offer}},
		{name: "to an active one", given: []Event{created, launched}, cmd: ok, want: []Event{offer}},
		{name: "trimmed product, 1 %", given: []Event{created},
			cmd:  with(func(c *AddOffer) { c.Product = " Solar panel\t"; c.DiscountPercent = 1 }),
			want: []Event{OfferAdded{CampaignID: cmpA, OfferID: offA, Product: "Solar panel", DiscountPercent: 1}}},
		{name: "100 %", given: []Event{created}, cmd: with(func(c *AddOffer) { c.DiscountPercent = 100 }),
			want: []Event{OfferAdded{CampaignID: cmpA, OfferID: offA, Product: "Solar panel", DiscountPercent: 100}}},
		{name: "valid until a future date within the campaign", given: []Event{dated},
			cmd: with(func(c *AddOffer) { c.ValidUntil = ptr(day(30).In(time.FixedZone("X", -7200))) }),
			want: []Event{OfferAdded{CampaignID: cmpA, OfferID: offA, Product: "Solar panel", DiscountPercent: 10,
				ValidUntil: ptr(day(30))}}},
		{name: "a second offer", given: []Event{created, offer},
			cmd:  with(func(c *AddOffer) { c.OfferID = offB }),
			want: []Event{OfferAdded{CampaignID: cmpA, OfferID: offB, Product: "Solar panel", DiscountPercent: 10}}},

		{name: "0 %", given: []Event{created}, cmd: with(func(c *AddOffer) { c.DiscountPercent = 0 }),
			code: errcode.BadUserInput, field: "discountPercent"},
		{name: "101 %", given: []Event{created}, cmd: with(func(c *AddOffer) { c.DiscountPercent = 101 }),
			code: errcode.BadUserInput, field: "discountPercent"},
		{name: "negative", given: []Event{created}, cmd: with(func(c *AddOffer) { c.DiscountPercent = -5 }),
			code: errcode.BadUserInput, field: "discountPercent"},
		{name: "product empty", given: []Event{created}, cmd: with(func(c *AddOffer) { c.Product = "  " }),
			code: errcode.BadUserInput, field: "product"},
		{name: "product too long", given: []Event{created},
			cmd:  with(func(c *AddOffer) { c.Product = strings.Repeat("p", MaxProductLen+1) }),
			code: errcode.BadUserInput, field: "product"},
		{name: "valid until now", given: []Event{created}, cmd: with(func(c *AddOffer) { c.ValidUntil = ptr(now) }),
			code: errcode.BadUserInput, field: "validUntil"},
		{name: "valid until after the campaign's end", given: []Event{dated},
			cmd:  with(func(c *AddOffer) { c.ValidUntil = ptr(day(31)) }),
			code: errcode.BadUserInput, field: "validUntil"},
		{name: "campaignId malformed", given: []Event{created}, cmd: with(func(c *AddOffer) { c.CampaignID = "cmp" }),
			code: errcode.BadUserInput, field: "campaignId"},
		{name: "campaign unknown", cmd: ok, code: errcode.NotFound, field: "campaignId"},
		{name: "campaign ended", given: []Event{created, launched, ended}, cmd: ok, code: errcode.Conflict},
		{name: "offer id taken", given: []Event{created, offer}, cmd: ok, code: errcode.Conflict},
		{name: "new offer id made badly by the service", given: []Event{created},
			cmd: with(func(c *AddOffer) { c.OfferID = cmpA }), code: errcode.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := RebuildCampaign(tc.given)
			before := slices.Clone(c.Offers)
			got, err := c.AddOffer(tc.cmd, now)
			expect(t, got, err, tc.want, tc.code, tc.field)
			if !slices.EqualFunc(before, c.Offers, func(a, b Offer) bool { return a.ID == b.ID }) {
				t.Fatal("decision mutated the campaign")
			}
		})
	}
}
