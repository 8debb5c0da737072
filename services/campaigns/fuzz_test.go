package campaigns_test

import (
	"log/slog"
	"testing"

	"crm/services/campaigns"
	"crm/services/campaigns/domain"
	"crm/services/kit/kittest"
)

// FuzzCommands: no command body, name or header makes the campaigns API
// panic, answer outside the contract, or record anything when it refuses.
func FuzzCommands(f *testing.F) {
	l, pool := kittest.AreaLog(f, campaigns.Migrate, campaigns.Inline)
	active, archived := kittest.FixedID("cus", 1), kittest.FixedID("cus", 2)
	fs := &facts{customers: map[string]domain.CustomerFact{active: domain.CustomerActive, archived: domain.CustomerArchived}}
	routes := campaigns.NewService(l, fs, pool).Routes(slog.New(slog.DiscardHandler))
	target := kittest.NewFuzzTarget(l, routes)
	cmp, off, deal := kittest.FixedID("cmp", 1), kittest.FixedID("off", 1), kittest.FixedID("deal", 1)
	kittest.FuzzCommands(f, target,
		kittest.Seed{Name: "create-campaign", Body: `{"name":"Spring","startsAt":"2030-01-01T00:00:00Z","endsAt":"2031-01-01T00:00:00Z"}`},
		kittest.Seed{Name: "create-campaign", Body: `{"name":"Spring","startsAt":"2031-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z"}`},
		kittest.Seed{Name: "launch-campaign", Body: `{"id":"` + cmp + `","expectedVersion":2}`},
		kittest.Seed{Name: "end-campaign", Body: `{"id":"` + cmp + `"}`},
		kittest.Seed{Name: "add-offer", Body: `{"campaignId":"` + cmp + `","product":"Solar","discountPercent":10,"validUntil":"2030-06-01T00:00:00Z"}`},
		kittest.Seed{Name: "add-offer", Body: `{"campaignId":"` + cmp + `","product":"Solar","discountPercent":1e10}`},
		kittest.Seed{Name: "open-deal", Body: `{"customerId":"` + active + `","product":"Heat pump","value":{"amount":"900.5","currencyCode":"eur"}}`},
		kittest.Seed{Name: "open-deal", Body: `{"customerId":"` + active + `","campaignId":"` + cmp + `","offerId":"` + off + `","salesRepId":"` +
			kittest.FixedID("sp", 1) + `","product":"x","value":{"amount":"-1e5","currencyCode":"XXX"}}`, Header: 4, Value: "customers:1"},
		kittest.Seed{Name: "open-deal", Body: `{"customerId":"` + archived + `","product":"p","value":{"amount":"99999999999999999999999999.999","currencyCode":"JPY"}}`},
		kittest.Seed{Name: "win-deal", Body: `{"id":"` + deal + `","expectedVersion":1}`},
		kittest.Seed{Name: "lose-deal", Body: `{"id":"` + deal + `","reason":"price"}`},
	)
}
