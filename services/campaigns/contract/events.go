package contract

import "time"

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

// EventType returns the event's type name in the log.
func (CampaignCreated) EventType() string { return TypeCampaignCreated }

// EventType returns the event's type name in the log.
func (CampaignLaunched) EventType() string { return TypeCampaignLaunched }

// EventType returns the event's type name in the log.
func (CampaignEnded) EventType() string { return TypeCampaignEnded }

// EventType returns the event's type name in the log.
func (OfferAdded) EventType() string { return TypeOfferAdded }

// EventType returns the event's type name in the log.
func (DealOpened) EventType() string { return TypeDealOpened }

// EventType returns the event's type name in the log.
func (DealWon) EventType() string { return TypeDealWon }

// EventType returns the event's type name in the log.
func (DealLost) EventType() string { return TypeDealLost }

// StreamID is the stream the event is recorded in: the campaign's id.
func (e CampaignCreated) StreamID() string { return e.CampaignID }

// StreamID is the stream the event is recorded in: the campaign's id.
func (e CampaignLaunched) StreamID() string { return e.CampaignID }

// StreamID is the stream the event is recorded in: the campaign's id.
func (e CampaignEnded) StreamID() string { return e.CampaignID }

// StreamID is the stream the event is recorded in: the campaign's id (offers live in it).
func (e OfferAdded) StreamID() string { return e.CampaignID }

// StreamID is the stream the event is recorded in: the deal's id.
func (e DealOpened) StreamID() string { return e.DealID }

// StreamID is the stream the event is recorded in: the deal's id.
func (e DealWon) StreamID() string { return e.DealID }

// StreamID is the stream the event is recorded in: the deal's id.
func (e DealLost) StreamID() string { return e.DealID }
