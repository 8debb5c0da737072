// Package campaigns is the campaigns area's write service: it loads the
// aggregates a command needs from the area's event log, asks its replica of
// the customers area what it knows about a deal's customer, lets the domain
// decide, and appends the events (see services/campaigns/domain). It also
// keeps an index of deals by customer inline with the log (see Inline), so
// that the reaction to a customer's archiving finds the customer's open
// deals without scanning the log.
package campaigns

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/campaigns/domain"
	"crm/services/kit"
	"crm/services/wire"
)

// Area is the area's name: its schema, its Redis streams, its token key.
const Area = "campaigns"

// Facts is what the service needs to know from other areas. The lead
// implements it with local replicas fed by the areas' events.
type Facts interface {
	// Customer returns what the replica knows about a customer, once the
	// replica has applied the customers area's log at least up to
	// token["customers"] (waiting, bounded, for it). An unknown customer is
	// domain.CustomerUnknown, not an error. Errors should be coded
	// (CONSISTENCY_TIMEOUT when the replica did not catch up in time,
	// UNAVAILABLE when it cannot be read); an uncoded one is answered as
	// UNAVAILABLE.
	Customer(ctx context.Context, customerID string, token wire.Token) (domain.CustomerFact, error)
}

// Service runs the area's commands and reactions.
type Service struct {
	log   *eventlog.Log
	x     *kit.Executor
	facts Facts
	index dealIndex
	now   func() time.Time
}

// NewService returns a service over the area's log. pool connects to the
// log's database: the reactions read the deal index (see Migrate and
// Inline) in the log's schema through it. The log must be opened with
// Config.Inline set to Inline(log.Schema()), or the index misses deals.
func NewService(log *eventlog.Log, facts Facts, pool *pgxpool.Pool) *Service {
	return &Service{
		log:   log,
		x:     &kit.Executor{Area: Area, Log: log},
		facts: facts,
		index: dealIndex{pool: pool, schema: log.Schema()},
		now:   time.Now,
	}
}

// CreateCampaign is the body of POST /commands/create-campaign. Times are
// RFC 3339 strings.
type CreateCampaign struct {
	wire.CommandOptions
	Name     string  `json:"name"`
	StartsAt *string `json:"startsAt,omitempty"`
	EndsAt   *string `json:"endsAt,omitempty"`
}

// LaunchCampaign is the body of POST /commands/launch-campaign.
type LaunchCampaign struct {
	wire.CommandOptions
	ID string `json:"id"`
}

// EndCampaign is the body of POST /commands/end-campaign.
type EndCampaign struct {
	wire.CommandOptions
	ID string `json:"id"`
}

// AddOffer is the body of POST /commands/add-offer. ValidUntil is an
// RFC 3339 string.
type AddOffer struct {
	wire.CommandOptions
	CampaignID      string  `json:"campaignId"`
	Product         string  `json:"product"`
	DiscountPercent int     `json:"discountPercent"`
	ValidUntil      *string `json:"validUntil,omitempty"`
}

// CreateCampaign creates a campaign, in DRAFT, under a fresh id.
// Errors: BAD_USER_INPUT (name, startsAt, endsAt).
func (s *Service) CreateCampaign(ctx context.Context, cmd *CreateCampaign, req kit.Request) (wire.Result, error) {
	startsAt, err := parseTime("startsAt", cmd.StartsAt)
	if err != nil {
		return wire.Result{}, err
	}
	endsAt, err := parseTime("endsAt", cmd.EndsAt)
	if err != nil {
		return wire.Result{}, err
	}
	id := ids.New(ids.Campaign)
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		c, v, err := s.loadCampaign(ctx, id)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := c.Create(domain.CreateCampaign{CampaignID: id, Name: cmd.Name, StartsAt: startsAt, EndsAt: endsAt})
		return kit.Plan{Primary: id, Events: kit.Events(evs), Versions: map[string]int64{id: v}}, err
	})
}

// LaunchCampaign moves a campaign from DRAFT to ACTIVE. Errors:
// BAD_USER_INPUT (id), NOT_FOUND, CONFLICT (not a draft, its end date has
// passed, stale expectedVersion).
func (s *Service) LaunchCampaign(ctx context.Context, cmd *LaunchCampaign, req kit.Request) (wire.Result, error) {
	if err := checkID("id", ids.Campaign, cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		c, v, err := s.loadCampaign(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := c.Launch(domain.LaunchCampaign{ID: cmd.ID}, s.now())
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: map[string]int64{cmd.ID: v}}, err
	})
}

// EndCampaign moves a campaign from ACTIVE to ENDED. Errors:
// BAD_USER_INPUT (id), NOT_FOUND, CONFLICT (not active, stale
// expectedVersion).
func (s *Service) EndCampaign(ctx context.Context, cmd *EndCampaign, req kit.Request) (wire.Result, error) {
	if err := checkID("id", ids.Campaign, cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		c, v, err := s.loadCampaign(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := c.End(domain.EndCampaign{ID: cmd.ID})
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: map[string]int64{cmd.ID: v}}, err
	})
}

// AddOffer adds an offer, under a fresh id, to a DRAFT or ACTIVE campaign;
// the result is about the campaign (the offer id is in the OfferAdded
// event). Errors: BAD_USER_INPUT (campaignId, product, discountPercent,
// validUntil), NOT_FOUND (campaignId), CONFLICT (campaign ended, stale
// expectedVersion).
func (s *Service) AddOffer(ctx context.Context, cmd *AddOffer, req kit.Request) (wire.Result, error) {
	if err := checkID("campaignId", ids.Campaign, cmd.CampaignID); err != nil {
		return wire.Result{}, err
	}
	validUntil, err := parseTime("validUntil", cmd.ValidUntil)
	if err != nil {
		return wire.Result{}, err
	}
	offerID := ids.New(ids.Offer)
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		c, v, err := s.loadCampaign(ctx, cmd.CampaignID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := c.AddOffer(domain.AddOffer{CampaignID: cmd.CampaignID, OfferID: offerID, Product: cmd.Product,
			DiscountPercent: cmd.DiscountPercent, ValidUntil: validUntil}, s.now())
		return kit.Plan{Primary: cmd.CampaignID, Events: kit.Events(evs), Versions: map[string]int64{cmd.CampaignID: v}}, err
	})
}

// checkID refuses a malformed id before anything is loaded. An empty id
// is refused as missing.
func checkID(field, prefix, id string) error {
	if id == "" {
		return errcode.Invalid(field, "is required")
	}
	if !ids.Valid(prefix, id) {
		return errcode.Invalid(field, "is not a valid %s id", prefix)
	}
	return nil
}

// checkOptionalID is checkID for an id the client may leave out.
func checkOptionalID(field, prefix, id string) error {
	if id == "" {
		return nil
	}
	return checkID(field, prefix, id)
}

// parseTime parses an optional RFC 3339 time of a command body. Times are
// strings in the bodies, not time.Time, so that a malformed one is refused
// naming its field (encoding/json reports a time.Time's parse error without
// the field).
func parseTime(field string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, errcode.Invalid(field, "must be an RFC 3339 date-time such as 2026-03-01T09:00:00Z")
	}
	return &t, nil
}

// factsError codes an error of the replica: an uncoded one means the
// replica could not be read, so nothing was recorded and a retry is safe.
func factsError(err error) error {
	if errcode.Of(err) != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return errcode.Wrap(errcode.Unavailable, err, "the customers replica is unavailable")
}

func (s *Service) loadCampaign(ctx context.Context, id string) (domain.Campaign, int64, error) {
	var c domain.Campaign
	v, err := kit.Load(ctx, s.log, id, domain.Decode, c.Apply)
	return c, v, err
}

func (s *Service) loadDeal(ctx context.Context, id string) (domain.Deal, int64, error) {
	var d domain.Deal
	v, err := kit.Load(ctx, s.log, id, domain.Decode, d.Apply)
	return d, v, err
}
