package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one fact recorded by the campaigns area. Its JSON encoding
// (encoding/json, camelCase fields) is the event's data in the log.
type Event interface {
	// EventType is the stable type name stored with the event.
	EventType() string
	// StreamID is the stream the event is appended to.
	StreamID() string
}

// The stable event type names.
const (
	TypeCampaignCreated  = "CampaignCreated"
	TypeCampaignLaunched = "CampaignLaunched"
	TypeCampaignEnded    = "CampaignEnded"
	TypeOfferAdded       = "OfferAdded"
	TypeDealOpened       = "DealOpened"
	TypeDealWon          = "DealWon"
	TypeDealLost         = "DealLost"
)

// Money is an exact amount in a currency. In events Amount is canonical:
// no sign, no leading zeros, exactly the currency's minor-unit digits
// ("1250.00" EUR, "1250" JPY).
type Money struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

// CampaignCreated: a new campaign exists, status DRAFT, with no offers.
type CampaignCreated struct {
	CampaignID string     `json:"campaignId"`
	Name       string     `json:"name"`
	StartsAt   *time.Time `json:"startsAt,omitempty"`
	EndsAt     *time.Time `json:"endsAt,omitempty"`
}

// CampaignLaunched: the campaign went from DRAFT to ACTIVE.
type CampaignLaunched struct {
	CampaignID string `json:"campaignId"`
}

// CampaignEnded: the campaign went from ACTIVE to ENDED.
type CampaignEnded struct {
	CampaignID string `json:"campaignId"`
}

// OfferAdded: the campaign has a new offer.
type OfferAdded struct {
	CampaignID      string     `json:"campaignId"`
	OfferID         string     `json:"offerId"`
	Product         string     `json:"product"`
	DiscountPercent int        `json:"discountPercent"`
	ValidUntil      *time.Time `json:"validUntil,omitempty"`
}

// DealOpened: a new deal exists, stage OPEN. CampaignID, OfferID and
// SalesRepID are empty when the deal has none.
type DealOpened struct {
	DealID     string `json:"dealId"`
	CustomerID string `json:"customerId"`
	CampaignID string `json:"campaignId,omitempty"`
	OfferID    string `json:"offerId,omitempty"`
	SalesRepID string `json:"salesRepId,omitempty"`
	Product    string `json:"product"`
	Value      Money  `json:"value"`
}

// DealWon: an open deal was won, stage WON. It repeats the deal's data so
// that readers (won totals, the customer's products owned) need nothing
// else.
type DealWon struct {
	DealID     string `json:"dealId"`
	CustomerID string `json:"customerId"`
	CampaignID string `json:"campaignId,omitempty"`
	OfferID    string `json:"offerId,omitempty"`
	SalesRepID string `json:"salesRepId,omitempty"`
	Product    string `json:"product"`
	Value      Money  `json:"value"`
}

// DealLost: an open deal was lost, stage LOST, for Reason.
type DealLost struct {
	DealID     string `json:"dealId"`
	CustomerID string `json:"customerId"`
	CampaignID string `json:"campaignId,omitempty"`
	OfferID    string `json:"offerId,omitempty"`
	SalesRepID string `json:"salesRepId,omitempty"`
	Product    string `json:"product"`
	Value      Money  `json:"value"`
	Reason     string `json:"reason"`
}

// EventType implements Event.
func (CampaignCreated) EventType() string { return TypeCampaignCreated }

// EventType implements Event.
func (CampaignLaunched) EventType() string { return TypeCampaignLaunched }

// EventType implements Event.
func (CampaignEnded) EventType() string { return TypeCampaignEnded }

// EventType implements Event.
func (OfferAdded) EventType() string { return TypeOfferAdded }

// EventType implements Event.
func (DealOpened) EventType() string { return TypeDealOpened }

// EventType implements Event.
func (DealWon) EventType() string { return TypeDealWon }

// EventType implements Event.
func (DealLost) EventType() string { return TypeDealLost }

// StreamID implements Event: the campaign's id.
func (e CampaignCreated) StreamID() string { return e.CampaignID }

// StreamID implements Event: the campaign's id.
func (e CampaignLaunched) StreamID() string { return e.CampaignID }

// StreamID implements Event: the campaign's id.
func (e CampaignEnded) StreamID() string { return e.CampaignID }

// StreamID implements Event: the campaign's id (offers live in it).
func (e OfferAdded) StreamID() string { return e.CampaignID }

// StreamID implements Event: the deal's id.
func (e DealOpened) StreamID() string { return e.DealID }

// StreamID implements Event: the deal's id.
func (e DealWon) StreamID() string { return e.DealID }

// StreamID implements Event: the deal's id.
func (e DealLost) StreamID() string { return e.DealID }

// Decode turns a recorded event back into its struct. It fails on an
// unknown type or on data that is not the type's JSON.
func Decode(eventType string, data []byte) (Event, error) {
	switch eventType {
	case TypeCampaignCreated:
		return decodeAs[CampaignCreated](eventType, data)
	case TypeCampaignLaunched:
		return decodeAs[CampaignLaunched](eventType, data)
	case TypeCampaignEnded:
		return decodeAs[CampaignEnded](eventType, data)
	case TypeOfferAdded:
		return decodeAs[OfferAdded](eventType, data)
	case TypeDealOpened:
		return decodeAs[DealOpened](eventType, data)
	case TypeDealWon:
		return decodeAs[DealWon](eventType, data)
	case TypeDealLost:
		return decodeAs[DealLost](eventType, data)
	}
	return nil, fmt.Errorf("campaigns: unknown event type %q", eventType)
}

func decodeAs[T Event](eventType string, data []byte) (Event, error) {
	var e T
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("campaigns: decode %s: %w", eventType, err)
	}
	return e, nil
}
