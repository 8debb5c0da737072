package domain

import "time"

// CampaignStatus is a campaign's lifecycle state, spelled as the GraphQL
// enum CampaignStatus. The zero value means the campaign does not exist.
type CampaignStatus string

// The campaign statuses.
const (
	StatusDraft  CampaignStatus = "DRAFT"
	StatusActive CampaignStatus = "ACTIVE"
	StatusEnded  CampaignStatus = "ENDED"
)

// Stage is a deal's stage, spelled as the GraphQL enum DealStage. The zero
// value means the deal does not exist.
type Stage string

// The deal stages.
const (
	StageOpen Stage = "OPEN"
	StageWon  Stage = "WON"
	StageLost Stage = "LOST"
)

// Offer is a discount on a product within a campaign.
type Offer struct {
	ID              string
	Product         string
	DiscountPercent int
	// ValidUntil is nil for an offer valid as long as its campaign.
	ValidUntil *time.Time
}

// Campaign is the state of one campaign stream. The zero value is a
// campaign that does not exist yet.
type Campaign struct {
	ID string
	// Version is the number of events folded in, i.e. the stream version.
	Version  int64
	Name     string
	Status   CampaignStatus
	StartsAt *time.Time
	EndsAt   *time.Time
	// Offers in the order they were added. Apply appends in place: copy the
	// slice before applying if the old value must survive.
	Offers []Offer
}

// Exists reports whether the campaign has been created.
func (c Campaign) Exists() bool { return c.Version > 0 }

// Offer returns the campaign's offer with the given id, and whether it has
// one.
func (c Campaign) Offer(id string) (Offer, bool) {
	for _, o := range c.Offers {
		if o.ID == id {
			return o, true
		}
	}
	return Offer{}, false
}

// Apply folds one event of the campaign's stream into the state and
// advances Version by one. It never fails: events of other types only
// advance the version.
func (c *Campaign) Apply(e Event) {
	c.Version++
	switch e := e.(type) {
	case CampaignCreated:
		c.ID = e.CampaignID
		c.Name = e.Name
		c.Status = StatusDraft
		c.StartsAt = e.StartsAt
		c.EndsAt = e.EndsAt
	case CampaignLaunched:
		c.Status = StatusActive
	case CampaignEnded:
		c.Status = StatusEnded
	case OfferAdded:
		c.Offers = append(c.Offers, Offer{ID: e.OfferID, Product: e.Product,
			DiscountPercent: e.DiscountPercent, ValidUntil: e.ValidUntil})
	}
}

// RebuildCampaign folds a stream's events, oldest first, into a fresh state.
func RebuildCampaign(events []Event) Campaign {
	var c Campaign
	for _, e := range events {
		c.Apply(e)
	}
	return c
}

// Deal is the state of one deal stream. The zero value is a deal that does
// not exist yet.
type Deal struct {
	ID string
	// Version is the number of events folded in, i.e. the stream version.
	Version    int64
	CustomerID string
	CampaignID string
	OfferID    string
	SalesRepID string
	Product    string
	Value      Money
	Stage      Stage
	LostReason string
}

// Exists reports whether the deal has been opened.
func (d Deal) Exists() bool { return d.Version > 0 }

// Apply folds one event of the deal's stream into the state and advances
// Version by one. It never fails: events of other types only advance the
// version.
func (d *Deal) Apply(e Event) {
	d.Version++
	switch e := e.(type) {
	case DealOpened:
		d.ID = e.DealID
		d.CustomerID = e.CustomerID
		d.CampaignID = e.CampaignID
		d.OfferID = e.OfferID
		d.SalesRepID = e.SalesRepID
		d.Product = e.Product
		d.Value = e.Value
		d.Stage = StageOpen
	case DealWon:
		d.Stage = StageWon
	case DealLost:
		d.Stage = StageLost
		d.LostReason = e.Reason
	}
}

// RebuildDeal folds a stream's events, oldest first, into a fresh state.
func RebuildDeal(events []Event) Deal {
	var d Deal
	for _, e := range events {
		d.Apply(e)
	}
	return d
}
