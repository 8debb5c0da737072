package domain

import (
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// CreateCampaign is the command to create a campaign, in DRAFT.
type CreateCampaign struct {
	// CampaignID is the new campaign's id, made by the service.
	CampaignID string
	Name       string
	// StartsAt and EndsAt are optional and informational: the status, not
	// the dates, governs what the campaign allows.
	StartsAt *time.Time
	EndsAt   *time.Time
}

// LaunchCampaign is the command to move a campaign from DRAFT to ACTIVE.
type LaunchCampaign struct{ ID string }

// EndCampaign is the command to move a campaign from ACTIVE to ENDED.
type EndCampaign struct{ ID string }

// AddOffer is the command to add an offer to a campaign.
type AddOffer struct {
	CampaignID string
	// OfferID is the new offer's id, made by the service.
	OfferID         string
	Product         string
	DiscountPercent int
	ValidUntil      *time.Time
}

// Create decides CreateCampaign on a (normally not yet existing) campaign c.
//
// It returns CampaignCreated with the name trimmed and the times in UTC.
// Errors: BAD_USER_INPUT for an empty or too long name (field name) or an
// endsAt not after startsAt (field endsAt); CONFLICT when the campaign id is
// taken.
func (c Campaign) Create(cmd CreateCampaign) ([]Event, error) {
	if err := checkOwnID(ids.Campaign, cmd.CampaignID); err != nil {
		return nil, err
	}
	name, err := cleanText("name", cmd.Name, MaxNameLen)
	if err != nil {
		return nil, err
	}
	startsAt, endsAt := canonicalTime(cmd.StartsAt), canonicalTime(cmd.EndsAt)
	if startsAt != nil && endsAt != nil && !endsAt.After(*startsAt) {
		return nil, errcode.Invalid("endsAt", "must be after startsAt")
	}
	if c.Exists() {
		return nil, conflict("campaign %s already exists", cmd.CampaignID)
	}
	return []Event{CampaignCreated{CampaignID: cmd.CampaignID, Name: name, StartsAt: startsAt, EndsAt: endsAt}}, nil
}

// Launch decides LaunchCampaign on campaign c at time now.
//
// It returns CampaignLaunched. Errors: BAD_USER_INPUT for a malformed id;
// NOT_FOUND when the campaign does not exist; CONFLICT when it is not
// DRAFT, or its endsAt is at or before now (it could never run).
func (c Campaign) Launch(cmd LaunchCampaign, now time.Time) ([]Event, error) {
	if err := checkCampaign(c, "id", cmd.ID); err != nil {
		return nil, err
	}
	if c.Status != StatusDraft {
		return nil, conflict("campaign %s is %s, only a draft can be launched", c.ID, c.Status)
	}
	if c.EndsAt != nil && !c.EndsAt.After(now) {
		return nil, conflict("campaign %s ended on %s, it can no longer be launched", c.ID, c.EndsAt.Format(time.RFC3339))
	}
	return []Event{CampaignLaunched{CampaignID: c.ID}}, nil
}

// End decides EndCampaign on campaign c.
//
// It returns CampaignEnded. Errors: BAD_USER_INPUT for a malformed id;
// NOT_FOUND when the campaign does not exist; CONFLICT when it is not
// ACTIVE.
func (c Campaign) End(cmd EndCampaign) ([]Event, error) {
	if err := checkCampaign(c, "id", cmd.ID); err != nil {
		return nil, err
	}
	if c.Status != StatusActive {
		return nil, conflict("campaign %s is %s, only an active one can be ended", c.ID, c.Status)
	}
	return []Event{CampaignEnded{CampaignID: c.ID}}, nil
}

// AddOffer decides AddOffer on campaign c at time now. A DRAFT or ACTIVE
// campaign takes offers.
//
// It returns OfferAdded with the product trimmed and validUntil in UTC.
// Errors: BAD_USER_INPUT for a malformed campaignId, an empty or too long
// product, a discountPercent outside 1..100, or a validUntil not after now
// or after the campaign's endsAt; NOT_FOUND (field campaignId) when the
// campaign does not exist; CONFLICT when it has ENDED or already has an
// offer with this id.
func (c Campaign) AddOffer(cmd AddOffer, now time.Time) ([]Event, error) {
	if err := checkOwnID(ids.Offer, cmd.OfferID); err != nil {
		return nil, err
	}
	if err := checkID("campaignId", ids.Campaign, cmd.CampaignID); err != nil {
		return nil, err
	}
	product, err := cleanText("product", cmd.Product, MaxProductLen)
	if err != nil {
		return nil, err
	}
	if cmd.DiscountPercent < 1 || cmd.DiscountPercent > 100 {
		return nil, errcode.Invalid("discountPercent", "must be between 1 and 100")
	}
	validUntil := canonicalTime(cmd.ValidUntil)
	if validUntil != nil && !validUntil.After(now) {
		return nil, errcode.Invalid("validUntil", "must be in the future")
	}
	if err := checkCampaign(c, "campaignId", cmd.CampaignID); err != nil {
		return nil, err
	}
	if c.Status == StatusEnded {
		return nil, conflict("campaign %s has ended, it takes no more offers", c.ID)
	}
	if _, dup := c.Offer(cmd.OfferID); dup {
		return nil, conflict("campaign %s already has offer %s", c.ID, cmd.OfferID)
	}
	if validUntil != nil && c.EndsAt != nil && validUntil.After(*c.EndsAt) {
		return nil, errcode.Invalid("validUntil", "must not be after the campaign's endsAt (%s)",
			c.EndsAt.Format(time.RFC3339))
	}
	return []Event{OfferAdded{CampaignID: c.ID, OfferID: cmd.OfferID, Product: product,
		DiscountPercent: cmd.DiscountPercent, ValidUntil: validUntil}}, nil
}
