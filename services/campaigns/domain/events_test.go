package domain

import (
	"reflect"
	"testing"
)

// TestDecode pins the recorded form of every event type: projections and
// other areas (relationships reads DealWon) depend on these field names.
func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ    string
		data   string
		want   Event
		stream string
	}{
		{TypeCampaignCreated,
			`{"campaignId":"` + cmpA + `","name":"Spring","startsAt":"2026-03-03T00:00:00Z","endsAt":"2026-04-01T00:00:00Z"}`,
			dated, cmpA},
		{TypeCampaignCreated, `{"campaignId":"` + cmpA + `","name":"Spring"}`, created, cmpA},
		{TypeCampaignLaunched, `{"campaignId":"` + cmpA + `"}`, launched, cmpA},
		{TypeCampaignEnded, `{"campaignId":"` + cmpA + `"}`, ended, cmpA},
		{TypeOfferAdded,
			`{"campaignId":"` + cmpA + `","offerId":"` + offA + `","product":"Solar","discountPercent":10,"validUntil":"2026-03-05T00:00:00Z"}`,
			OfferAdded{CampaignID: cmpA, OfferID: offA, Product: "Solar", DiscountPercent: 10, ValidUntil: ptr(day(3))}, cmpA},
		{TypeDealOpened,
			`{"dealId":"` + dealA + `","customerId":"` + cus1 + `","campaignId":"` + cmpA + `","offerId":"` + offA +
				`","salesRepId":"` + sp1 + `","product":"Solar","value":{"amount":"99.50","currencyCode":"EUR"}}`,
			DealOpened{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
				Product: "Solar", Value: eur("99.50")}, dealA},
		{TypeDealOpened,
			`{"dealId":"` + dealA + `","customerId":"` + cus1 + `","product":"Solar","value":{"amount":"1","currencyCode":"JPY"}}`,
			DealOpened{DealID: dealA, CustomerID: cus1, Product: "Solar", Value: Money{Amount: "1", CurrencyCode: "JPY"}}, dealA},
		{TypeDealWon,
			`{"dealId":"` + dealA + `","customerId":"` + cus1 + `","product":"Solar","value":{"amount":"99.50","currencyCode":"EUR"}}`,
			DealWon{DealID: dealA, CustomerID: cus1, Product: "Solar", Value: eur("99.50")}, dealA},
		{TypeDealLost,
			`{"dealId":"` + dealA + `","customerId":"` + cus1 + `","product":"Solar","value":{"amount":"99.50","currencyCode":"EUR"},"reason":"price"}`,
			DealLost{DealID: dealA, CustomerID: cus1, Product: "Solar", Value: eur("99.50"), Reason: "price"}, dealA},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			got, err := Decode(tc.typ, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if render(t, []Event{got})[0] != render(t, []Event{tc.want})[0] || reflect.TypeOf(got) != reflect.TypeOf(tc.want) {
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
	if _, err := Decode("DealClosed", []byte(`{}`)); err == nil {
		t.Error("unknown type decoded")
	}
	if _, err := Decode(TypeDealOpened, []byte(`{"value":"1"}`)); err == nil {
		t.Error("bad data decoded")
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	offer := OfferAdded{CampaignID: cmpA, OfferID: offA, Product: "Solar", DiscountPercent: 10, ValidUntil: ptr(day(3))}
	c := RebuildCampaign([]Event{dated, offer, launched})
	want := Campaign{ID: cmpA, Version: 3, Name: "Spring", Status: StatusActive, StartsAt: ptr(day(1)),
		EndsAt: ptr(day(30)), Offers: []Offer{{ID: offA, Product: "Solar", DiscountPercent: 10, ValidUntil: ptr(day(3))}}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("campaign = %+v\nwant       %+v", c, want)
	}
	if o, ok := c.Offer(offA); !ok || o.Product != "Solar" {
		t.Fatalf("Offer(%s) = %+v, %v", offA, o, ok)
	}
	if _, ok := c.Offer(offB); ok {
		t.Fatal("unknown offer found")
	}
	c.Apply(ended)
	if c.Status != StatusEnded || c.Version != 4 || !c.Exists() || (Campaign{}).Exists() {
		t.Fatalf("ended campaign = %+v", c)
	}

	d := RebuildDeal([]Event{
		DealOpened{DealID: dealA, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
			Product: "Solar", Value: eur("99.50")},
		DealLost{DealID: dealA, Reason: "price"},
	})
	wantDeal := Deal{ID: dealA, Version: 2, CustomerID: cus1, CampaignID: cmpA, OfferID: offA, SalesRepID: sp1,
		Product: "Solar", Value: eur("99.50"), Stage: StageLost, LostReason: "price"}
	if d != wantDeal {
		t.Fatalf("deal = %+v\nwant   %+v", d, wantDeal)
	}
	d = RebuildDeal([]Event{DealOpened{DealID: dealA}, DealWon{DealID: dealA}})
	if d.Stage != StageWon || !d.Exists() || (Deal{}).Exists() {
		t.Fatalf("won deal = %+v", d)
	}
}
