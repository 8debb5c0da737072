// Package domain is the pure core of the campaigns area: campaigns with
// their offers, and deals (a sales opportunity for a customer, optionally
// under a campaign's offer). It does no I/O and reads no clock; the service
// layer loads state, passes what its replica knows about the customer and
// the current time, and appends what a decision returns. A refusal is
// always a coded error (crm/eventlog/errcode) and no events.
//
// # Streams
//
//   - "<campaign id>" (cmp_...): CampaignCreated, CampaignLaunched,
//     CampaignEnded and OfferAdded. Offers live inside their campaign's
//     stream, so "the offer belongs to this campaign" is a lookup in one
//     aggregate. Folded by [Campaign.Apply].
//   - "<deal id>" (deal_...): DealOpened, DealWon and DealLost. Folded by
//     [Deal.Apply].
//
// Every decision appends to exactly one stream, the one of the aggregate it
// is a method of ([Event.StreamID] says which): Campaign.Create, Launch, End
// and AddOffer to the campaign's stream; Deal.Open, Win, Lose and
// LoseForArchivedCustomer to the deal's stream. No uniqueness spans
// aggregates here, so there is no guard stream.
//
// Deal.Open reads the campaign (status, offers) without appending to it: a
// deal opened while the campaign is being ended concurrently may be
// recorded just after the end. That is accepted: the deal was decided on
// the campaign as it stood, exactly as if it had arrived a moment earlier.
//
// Deal events carry the customer, campaign, offer and sales rep ids, the
// product and the full value, so the campaigns read models (open deal
// count, won totals per currency) and the relationships area (products
// owned, from DealWon) need no lookups.
package domain
