package domain

import (
	"strings"
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// OpenDeal is the command to open a deal for a customer.
type OpenDeal struct {
	// DealID is the new deal's id, made by the service.
	DealID     string
	CustomerID string
	// CampaignID, OfferID and SalesRepID are optional (empty: none). An
	// offer needs its campaign.
	CampaignID string
	OfferID    string
	SalesRepID string
	Product    string
	// Value is the input as typed: Amount a decimal string, CurrencyCode
	// any case.
	Value Money
}

// WinDeal is the command to mark an open deal won.
type WinDeal struct{ ID string }

// LoseDeal is the command to mark an open deal lost.
type LoseDeal struct {
	ID     string
	Reason string
}

// Open decides OpenDeal on a (normally not yet existing) deal d, given what
// the replica knows about the customer, the campaign named by the command
// (the zero Campaign when the command names none or it does not exist) and
// the current time. The sales rep is only checked for form: the campaigns
// area keeps no replica of salespeople.
//
// It returns DealOpened with product trimmed (spelled as the offer's when
// there is one) and the value canonical. Errors: BAD_USER_INPUT for a
// malformed customerId, campaignId, offerId or salesRepId, an offerId
// without campaignId (field campaignId), an offer of another campaign
// (field offerId), an empty or too long product or one that is not the
// offer's (field product), an unknown currency (field value.currencyCode)
// or an amount that is not a decimal > 0 with at most the currency's
// decimal places (field value.amount); NOT_FOUND for an unknown customer
// (field customerId) or campaign (field campaignId); CONFLICT when the deal
// id is taken, the customer is archived, the campaign is not ACTIVE or the
// offer's validUntil has passed.
func (d Deal) Open(cmd OpenDeal, customer CustomerFact, campaign Campaign, now time.Time) ([]Event, error) {
	if err := checkOwnID(ids.Deal, cmd.DealID); err != nil {
		return nil, err
	}
	if err := checkID("customerId", ids.Customer, cmd.CustomerID); err != nil {
		return nil, err
	}
	if err := checkOptionalID("campaignId", ids.Campaign, cmd.CampaignID); err != nil {
		return nil, err
	}
	if err := checkOptionalID("offerId", ids.Offer, cmd.OfferID); err != nil {
		return nil, err
	}
	if cmd.OfferID != "" && cmd.CampaignID == "" {
		return nil, errcode.Invalid("campaignId", "is required with offerId")
	}
	if err := checkOptionalID("salesRepId", ids.Salesperson, cmd.SalesRepID); err != nil {
		return nil, err
	}
	product, err := cleanText("product", cmd.Product, MaxProductLen)
	if err != nil {
		return nil, err
	}
	value, err := canonicalMoney("value", cmd.Value)
	if err != nil {
		return nil, err
	}
	if d.Exists() {
		return nil, conflict("deal %s already exists", cmd.DealID)
	}
	if customer == CustomerUnknown {
		return nil, notFound("customerId", "customer %s not found", cmd.CustomerID)
	}
	var offer Offer
	if cmd.CampaignID != "" {
		if err := checkCampaign(campaign, "campaignId", cmd.CampaignID); err != nil {
			return nil, err
		}
		if cmd.OfferID != "" {
			var ok bool
			if offer, ok = campaign.Offer(cmd.OfferID); !ok {
				return nil, errcode.Invalid("offerId", "is not an offer of campaign %s", campaign.ID)
			}
			if !strings.EqualFold(product, offer.Product) {
				return nil, errcode.Invalid("product", "must be the offer's product, %q", offer.Product)
			}
			product = offer.Product
		}
	}
	if customer == CustomerArchived {
		return nil, conflict("customer %s is archived", cmd.CustomerID)
	}
	if cmd.CampaignID != "" && campaign.Status != StatusActive {
		return nil, conflict("campaign %s is %s, deals open only under an active one", campaign.ID, campaign.Status)
	}
	if offer.ValidUntil != nil && !now.Before(*offer.ValidUntil) {
		return nil, conflict("offer %s expired on %s", offer.ID, offer.ValidUntil.Format(time.RFC3339))
	}
	return []Event{DealOpened{DealID: cmd.DealID, CustomerID: cmd.CustomerID, CampaignID: cmd.CampaignID,
		OfferID: cmd.OfferID, SalesRepID: cmd.SalesRepID, Product: product, Value: value}}, nil
}

// Win decides WinDeal on deal d.
//
// It returns DealWon carrying the deal's data. Errors: BAD_USER_INPUT for a
// malformed id; NOT_FOUND when the deal does not exist; CONFLICT when it is
// not OPEN.
func (d Deal) Win(cmd WinDeal) ([]Event, error) {
	if err := checkDeal(d, cmd.ID); err != nil {
		return nil, err
	}
	if d.Stage != StageOpen {
		return nil, conflict("deal %s is %s, only an open one can be won", d.ID, d.Stage)
	}
	return []Event{DealWon{DealID: d.ID, CustomerID: d.CustomerID, CampaignID: d.CampaignID, OfferID: d.OfferID,
		SalesRepID: d.SalesRepID, Product: d.Product, Value: d.Value}}, nil
}

// Lose decides LoseDeal on deal d.
//
// It returns DealLost with the reason trimmed. Errors: BAD_USER_INPUT for a
// malformed id or an empty or too long reason; NOT_FOUND when the deal does
// not exist; CONFLICT when it is not OPEN.
func (d Deal) Lose(cmd LoseDeal) ([]Event, error) {
	if err := checkDeal(d, cmd.ID); err != nil {
		return nil, err
	}
	reason, err := cleanText("reason", cmd.Reason, MaxReasonLen)
	if err != nil {
		return nil, err
	}
	if d.Stage != StageOpen {
		return nil, conflict("deal %s is %s, only an open one can be lost", d.ID, d.Stage)
	}
	return d.lost(reason), nil
}

// LoseForArchivedCustomer is the reaction to the archiving of d's customer:
// an OPEN deal is lost with reason "customer archived". A deal already won
// or lost (or unknown) yields no events, so the reaction is idempotent and
// safe to redeliver. It never fails.
func (d Deal) LoseForArchivedCustomer() []Event {
	if !d.Exists() || d.Stage != StageOpen {
		return nil
	}
	return d.lost(ReasonCustomerArchived)
}

func (d Deal) lost(reason string) []Event {
	return []Event{DealLost{DealID: d.ID, CustomerID: d.CustomerID, CampaignID: d.CampaignID, OfferID: d.OfferID,
		SalesRepID: d.SalesRepID, Product: d.Product, Value: d.Value, Reason: reason}}
}
