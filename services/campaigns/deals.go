package campaigns

import (
	"context"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/campaigns/domain"
	"crm/services/kit"
	"crm/services/wire"
)

// Money is an amount in a currency in commands: amount a decimal string
// ("1250.00"), currencyCode an ISO 4217 code in any case.
type Money struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

// OpenDeal is the body of POST /commands/open-deal.
type OpenDeal struct {
	wire.CommandOptions
	CustomerID string `json:"customerId"`
	CampaignID string `json:"campaignId,omitempty"`
	OfferID    string `json:"offerId,omitempty"`
	SalesRepID string `json:"salesRepId,omitempty"`
	Product    string `json:"product"`
	Value      *Money `json:"value"`
}

// WinDeal is the body of POST /commands/win-deal.
type WinDeal struct {
	wire.CommandOptions
	ID string `json:"id"`
}

// LoseDeal is the body of POST /commands/lose-deal.
type LoseDeal struct {
	wire.CommandOptions
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// OpenDeal opens a deal, under a fresh id, for a customer the customers
// replica knows (waiting, bounded, until it has applied req.Token), under
// the named campaign's offer when there is one. Errors: BAD_USER_INPUT
// (customerId, campaignId, offerId, salesRepId, product, value,
// value.amount, value.currencyCode), NOT_FOUND (customerId, campaignId),
// CONFLICT (customer archived, campaign not active, offer expired),
// CONSISTENCY_TIMEOUT or UNAVAILABLE from the replica.
func (s *Service) OpenDeal(ctx context.Context, cmd *OpenDeal, req kit.Request) (wire.Result, error) {
	if err := checkID("customerId", ids.Customer, cmd.CustomerID); err != nil {
		return wire.Result{}, err
	}
	if err := checkOptionalID("campaignId", ids.Campaign, cmd.CampaignID); err != nil {
		return wire.Result{}, err
	}
	if err := checkOptionalID("offerId", ids.Offer, cmd.OfferID); err != nil {
		return wire.Result{}, err
	}
	if err := checkOptionalID("salesRepId", ids.Salesperson, cmd.SalesRepID); err != nil {
		return wire.Result{}, err
	}
	if cmd.Value == nil {
		return wire.Result{}, errcode.Invalid("value", "is required")
	}
	id := ids.New(ids.Deal)
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		d, v, err := s.loadDeal(ctx, id)
		if err != nil {
			return kit.Plan{}, err
		}
		versions := map[string]int64{id: v}
		// The campaign is read, not written: its version is in the plan
		// because the decision depends on it, though only the deal's
		// stream is appended to (see the domain's doc on this race).
		var c domain.Campaign
		if cmd.CampaignID != "" {
			if c, versions[cmd.CampaignID], err = s.loadCampaign(ctx, cmd.CampaignID); err != nil {
				return kit.Plan{}, err
			}
		}
		fact, err := s.facts.Customer(ctx, cmd.CustomerID, req.Token)
		if err != nil {
			return kit.Plan{}, factsError(err)
		}
		evs, err := d.Open(domain.OpenDeal{DealID: id, CustomerID: cmd.CustomerID, CampaignID: cmd.CampaignID,
			OfferID: cmd.OfferID, SalesRepID: cmd.SalesRepID, Product: cmd.Product,
			Value: domain.Money{Amount: cmd.Value.Amount, CurrencyCode: cmd.Value.CurrencyCode}}, fact, c, s.now())
		return kit.Plan{Primary: id, Events: kit.Events(evs), Versions: versions}, err
	})
}

// WinDeal marks an open deal won. Errors: BAD_USER_INPUT (id), NOT_FOUND,
// CONFLICT (not open, stale expectedVersion).
func (s *Service) WinDeal(ctx context.Context, cmd *WinDeal, req kit.Request) (wire.Result, error) {
	if err := checkID("id", ids.Deal, cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		d, v, err := s.loadDeal(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := d.Win(domain.WinDeal{ID: cmd.ID})
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: map[string]int64{cmd.ID: v}}, err
	})
}

// LoseDeal marks an open deal lost for a reason. Errors: BAD_USER_INPUT
// (id, reason), NOT_FOUND, CONFLICT (not open, stale expectedVersion).
func (s *Service) LoseDeal(ctx context.Context, cmd *LoseDeal, req kit.Request) (wire.Result, error) {
	if err := checkID("id", ids.Deal, cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		d, v, err := s.loadDeal(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := d.Lose(domain.LoseDeal{ID: cmd.ID, Reason: cmd.Reason})
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: map[string]int64{cmd.ID: v}}, err
	})
}
