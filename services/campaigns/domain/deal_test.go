package domain

import (
	"strings"
	"testing"

	"crm/eventlog/errcode"
)

func TestOpenDeal(t *testing.T) {
	t.Parallel()
	offer := OfferAdded{CampaignID: cmpA, OfferID: offA, Product: "Solar Panel", DiscountPercent: 10}
	expiring := OfferAdded{CampaignID: cmpA, OfferID: offB, Product: "Battery", DiscountPercent: 5,
		ValidUntil: ptr(day(3))}
	active := RebuildCampaign([]Event{created, offer, expiring, launched})
	draft := RebuildCampaign([]Event{created, offer})
	over := RebuildCampaign([]Event{created, offer, launched, ended})

	plain := OpenDeal{DealID: dealA, CustomerID: cus1, Product: "Heat pump", Value: eur("1250")}
	onOffer := OpenDeal{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
		Product: "solar panel", Value: Money{Amount: " 0099.5 ", CurrencyCode: " eur"}}
	with := func(c OpenDeal, f func(*OpenDeal)) OpenDeal { f(&c); return c }
	opened := DealOpened{DealID: dealA, CustomerID: cus1, Product: "Heat pump", Value: eur("1250.00")}

	tests := []struct {
		name     string
		given    []Event
		cmd      OpenDeal
		customer CustomerFact
		campaign Campaign
		now      int // days after now's day, 0: now
		want     []Event
		code     errcode.Code
		field    string
	}{
		{name: "without a campaign", cmd: plain, customer: CustomerActive, want: []Event{opened}},
		{name: "on an offer: canonical value, the offer's product spelling", cmd: onOffer,
			customer: CustomerActive, campaign: active,
			want: []Event{DealOpened{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
				Product: "Solar Panel", Value: eur("99.50")}}},
		{name: "under a campaign without an offer", customer: CustomerActive, campaign: active,
			cmd: with(plain, func(c *OpenDeal) { c.CampaignID = cmpA }),
			want: []Event{DealOpened{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, Product: "Heat pump",
				Value: eur("1250.00")}}},
		{name: "on an offer before its validUntil", customer: CustomerActive, campaign: active, now: 2,
			cmd: with(onOffer, func(c *OpenDeal) { c.OfferID = offB; c.Product = "Battery" }),
			want: []Event{DealOpened{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offB, SalesRepID: sp1,
				Product: "Battery", Value: eur("99.50")}}},
		{name: "in yen", customer: CustomerActive,
			cmd:  with(plain, func(c *OpenDeal) { c.Value = Money{Amount: "150000", CurrencyCode: "JPY"} }),
			want: []Event{DealOpened{DealID: dealA, CustomerID: cus1, Product: "Heat pump", Value: Money{Amount: "150000", CurrencyCode: "JPY"}}}},

		{name: "customerId missing", customer: CustomerActive, cmd: with(plain, func(c *OpenDeal) { c.CustomerID = "" }),
			code: errcode.BadUserInput, field: "customerId"},
		{name: "campaignId malformed", customer: CustomerActive, campaign: active,
			cmd: with(onOffer, func(c *OpenDeal) { c.CampaignID = offA }), code: errcode.BadUserInput, field: "campaignId"},
		{name: "offerId malformed", customer: CustomerActive, campaign: active,
			cmd: with(onOffer, func(c *OpenDeal) { c.OfferID = "off_1" }), code: errcode.BadUserInput, field: "offerId"},
		{name: "offerId without campaignId", customer: CustomerActive,
			cmd: with(onOffer, func(c *OpenDeal) { c.CampaignID = "" }), code: errcode.BadUserInput, field: "campaignId"},
		{name: "salesRepId malformed", customer: CustomerActive,
			cmd: with(plain, func(c *OpenDeal) { c.SalesRepID = cus1 }), code: errcode.BadUserInput, field: "salesRepId"},
		{name: "product empty", customer: CustomerActive, cmd: with(plain, func(c *OpenDeal) { c.Product = "" }),
			code: errcode.BadUserInput, field: "product"},
		{name: "product too long", customer: CustomerActive,
			cmd:  with(plain, func(c *OpenDeal) { c.Product = strings.Repeat("p", MaxProductLen+1) }),
			code: errcode.BadUserInput, field: "product"},
		{name: "currency missing", customer: CustomerActive, cmd: with(plain, func(c *OpenDeal) { c.Value.CurrencyCode = "" }),
			code: errcode.BadUserInput, field: "value.currencyCode"},
		{name: "three letters but no currency", customer: CustomerActive,
			cmd:  with(plain, func(c *OpenDeal) { c.Value.CurrencyCode = "ABC" }),
			code: errcode.BadUserInput, field: "value.currencyCode"},
		{name: "amount zero", customer: CustomerActive, cmd: with(plain, func(c *OpenDeal) { c.Value.Amount = "0.00" }),
			code: errcode.BadUserInput, field: "value.amount"},
		{name: "amount negative", customer: CustomerActive, cmd: with(plain, func(c *OpenDeal) { c.Value.Amount = "-10" }),
			code: errcode.BadUserInput, field: "value.amount"},
		{name: "amount as a float", customer: CustomerActive, cmd: with(plain, func(c *OpenDeal) { c.Value.Amount = "1e3" }),
			code: errcode.BadUserInput, field: "value.amount"},
		{name: "amount too precise for the currency", customer: CustomerActive,
			cmd:  with(plain, func(c *OpenDeal) { c.Value.Amount = "10.005" }),
			code: errcode.BadUserInput, field: "value.amount"},
		{name: "deal id taken", given: []Event{opened}, customer: CustomerActive, cmd: plain, code: errcode.Conflict},
		{name: "customer unknown", cmd: plain, code: errcode.NotFound, field: "customerId"},
		{name: "campaign unknown", customer: CustomerActive, cmd: onOffer, code: errcode.NotFound, field: "campaignId"},
		{name: "offer of another campaign", customer: CustomerActive, campaign: active,
			cmd:  with(onOffer, func(c *OpenDeal) { c.OfferID = "off_00000000-0000-4000-8000-0000000000ff" }),
			code: errcode.BadUserInput, field: "offerId"},
		{name: "product not the offer's", customer: CustomerActive, campaign: active,
			cmd: with(onOffer, func(c *OpenDeal) { c.Product = "Battery" }), code: errcode.BadUserInput, field: "product"},
		{name: "customer archived", customer: CustomerArchived, cmd: plain, code: errcode.Conflict},
		{name: "customer archived, with an offer", customer: CustomerArchived, campaign: active, cmd: onOffer,
			code: errcode.Conflict},
		{name: "campaign still a draft", customer: CustomerActive, campaign: draft, cmd: onOffer, code: errcode.Conflict},
		{name: "campaign ended", customer: CustomerActive, campaign: over, cmd: onOffer, code: errcode.Conflict},
		{name: "offer expired", customer: CustomerActive, campaign: active, now: 3,
			cmd: with(onOffer, func(c *OpenDeal) { c.OfferID = offB; c.Product = "Battery" }), code: errcode.Conflict},
		{name: "state of another campaign given", customer: CustomerActive,
			campaign: RebuildCampaign([]Event{CampaignCreated{CampaignID: cmpB, Name: "B"}, CampaignLaunched{CampaignID: cmpB}}),
			cmd:      with(plain, func(c *OpenDeal) { c.CampaignID = cmpA }), code: errcode.Internal},
		{name: "new id made badly by the service", customer: CustomerActive,
			cmd: with(plain, func(c *OpenDeal) { c.DealID = "deal_" }), code: errcode.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			at := now
			if tc.now != 0 {
				at = day(tc.now)
			}
			got, err := RebuildDeal(tc.given).Open(tc.cmd, tc.customer, tc.campaign, at)
			expect(t, got, err, tc.want, tc.code, tc.field)
		})
	}
}

func TestWinAndLoseDeal(t *testing.T) {
	t.Parallel()
	open := DealOpened{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
		Product: "Solar Panel", Value: eur("99.50")}
	won := DealWon{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
		Product: "Solar Panel", Value: eur("99.50")}
	lost := func(reason string) DealLost {
		return DealLost{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
			Product: "Solar Panel", Value: eur("99.50"), Reason: reason}
	}
	tests := []struct {
		name   string
		given  []Event
		win    bool // else lose
		id     string
		reason string
		want   []Event
		code   errcode.Code
		field  string
	}{
		{name: "win an open deal, repeating its data", given: []Event{open}, win: true, id: dealA, want: []Event{won}},
		{name: "win a won deal", given: []Event{open, won}, win: true, id: dealA, code: errcode.Conflict},
		{name: "win a lost deal", given: []Event{open, lost("price")}, win: true, id: dealA, code: errcode.Conflict},
		{name: "win unknown", win: true, id: dealA, code: errcode.NotFound, field: "id"},
		{name: "win with a malformed id", given: []Event{open}, win: true, id: cmpA, code: errcode.BadUserInput, field: "id"},
		{name: "win with another deal's state", given: []Event{open}, win: true, id: dealB, code: errcode.Internal},

		{name: "lose an open deal, trimmed reason", given: []Event{open}, id: dealA, reason: " price ",
			want: []Event{lost("price")}},
		{name: "lose without a reason", given: []Event{open}, id: dealA, reason: " ",
			code: errcode.BadUserInput, field: "reason"},
		{name: "lose with too long a reason", given: []Event{open}, id: dealA, reason: strings.Repeat("r", MaxReasonLen+1),
			code: errcode.BadUserInput, field: "reason"},
		{name: "lose a won deal", given: []Event{open, won}, id: dealA, reason: "price", code: errcode.Conflict},
		{name: "lose a lost deal", given: []Event{open, lost("price")}, id: dealA, reason: "again", code: errcode.Conflict},
		{name: "lose unknown", id: dealA, reason: "price", code: errcode.NotFound, field: "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := RebuildDeal(tc.given)
			var got []Event
			var err error
			if tc.win {
				got, err = d.Win(WinDeal{ID: tc.id})
			} else {
				got, err = d.Lose(LoseDeal{ID: tc.id, Reason: tc.reason})
			}
			expect(t, got, err, tc.want, tc.code, tc.field)
		})
	}
}

func TestLoseForArchivedCustomer(t *testing.T) {
	t.Parallel()
	open := DealOpened{DealID: dealA, CustomerID: cus1, Product: "Heat pump", Value: eur("1250.00")}
	tests := []struct {
		name  string
		given []Event
		want  []Event
	}{
		{name: "an open deal is lost", given: []Event{open},
			want: []Event{DealLost{DealID: dealA, CustomerID: cus1, Product: "Heat pump", Value: eur("1250.00"),
				Reason: ReasonCustomerArchived}}},
		{name: "already lost: idempotent", given: []Event{open, DealLost{DealID: dealA, Reason: ReasonCustomerArchived}}},
		{name: "lost for another reason", given: []Event{open, DealLost{DealID: dealA, Reason: "price"}}},
		{name: "won", given: []Event{open, DealWon{DealID: dealA}}},
		{name: "unknown deal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := RebuildDeal(tc.given).LoseForArchivedCustomer()
			expect(t, got, nil, tc.want, "", "")
		})
	}
	d := RebuildDeal([]Event{open})
	for _, e := range d.LoseForArchivedCustomer() {
		d.Apply(e)
	}
	if again := d.LoseForArchivedCustomer(); len(again) != 0 || d.Stage != StageLost || d.Version != 2 {
		t.Fatalf("redelivered reaction: %v, state %+v", render(t, again), d)
	}
}
