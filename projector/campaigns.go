package projector

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog"
	"crm/eventlog/consumer"
	cmp "crm/services/campaigns/contract"
)

// Campaigns is the campaign and deal read model (tables campaigns and
// deals), fed by the campaigns area alone. A campaign's stream and its
// deals' streams lie in different partitions, so deals may be applied
// before their campaign: the campaign's open deal count and won totals are
// recomputed from deals both at each deal event (when the campaign row
// exists) and when the campaign is created.
type Campaigns struct{}

// Name implements Projection.
func (Campaigns) Name() string { return "campaigns" }

// Sources implements Projection.
func (Campaigns) Sources() []string { return []string{AreaCampaigns} }

// Migrations implements Projection.
func (Campaigns) Migrations() fs.FS { return migrationsOf("campaigns") }

// Tables implements Projection.
func (Campaigns) Tables() []string { return []string{"campaigns", "deals"} }

// offer is one element of campaigns.offers, as the gateway reads it.
type offer struct {
	ID              string     `json:"id"`
	Product         string     `json:"product"`
	DiscountPercent int        `json:"discountPercent"`
	ValidUntil      *time.Time `json:"validUntil"`
}

// Apply implements Projection. It fails on malformed event data or a
// database error; events it does not use return no change.
func (c Campaigns) Apply(b *consumer.Batch, schema string, ev eventlog.Event, area string, out *[]Change) error {
	if area != AreaCampaigns {
		return nil
	}
	var err error
	t := schema + ".campaigns"
	switch ev.Type {
	case cmp.TypeCampaignCreated:
		var e cmp.CampaignCreated
		if e, err = decode[cmp.CampaignCreated](b, ev); err == nil {
			campaignRow(b, out, schema, e.CampaignID, `INSERT INTO `+t+` AS c (id, name, status, starts_at, ends_at,
				open_deal_count, won_totals, version, created_at)
				SELECT $1, $2, 'DRAFT', $3, $4, `+dealTotals(schema+".deals", "campaign_id", "$1")+`, $5, $6
				ON CONFLICT (id) DO UPDATE SET name = $2, status = 'DRAFT', starts_at = $3, ends_at = $4,
					open_deal_count = EXCLUDED.open_deal_count, won_totals = EXCLUDED.won_totals, version = $5, created_at = $6
				RETURNING c.id`, e.CampaignID, e.Name, e.StartsAt, e.EndsAt, ev.Version, ev.RecordedAt)
		}
	case cmp.TypeCampaignLaunched:
		var e cmp.CampaignLaunched
		if e, err = decode[cmp.CampaignLaunched](b, ev); err == nil {
			campaignRow(b, out, schema, e.CampaignID, `UPDATE `+t+` AS c SET status = 'ACTIVE', version = $2 WHERE id = $1 RETURNING c.id`,
				e.CampaignID, ev.Version)
		}
	case cmp.TypeCampaignEnded:
		var e cmp.CampaignEnded
		if e, err = decode[cmp.CampaignEnded](b, ev); err == nil {
			campaignRow(b, out, schema, e.CampaignID, `UPDATE `+t+` AS c SET status = 'ENDED', version = $2 WHERE id = $1 RETURNING c.id`,
				e.CampaignID, ev.Version)
		}
	case cmp.TypeOfferAdded:
		var e cmp.OfferAdded
		if e, err = decode[cmp.OfferAdded](b, ev); err == nil {
			var o []byte
			o, err = json.Marshal([]offer{{ID: e.OfferID, Product: e.Product, DiscountPercent: e.DiscountPercent, ValidUntil: e.ValidUntil}})
			if err == nil {
				// The offer id check keeps a replayed event from adding it twice.
				campaignRow(b, out, schema, e.CampaignID, `UPDATE `+t+` AS c SET version = $2,
					offers = CASE WHEN c.offers @> jsonb_build_array(jsonb_build_object('id', $3::text)) THEN c.offers
						ELSE c.offers || $4::jsonb END
					WHERE id = $1 RETURNING c.id`, e.CampaignID, ev.Version, e.OfferID, string(o))
			}
		}
	case cmp.TypeDealOpened:
		var e cmp.DealOpened
		if e, err = decode[cmp.DealOpened](b, ev); err == nil {
			c.deal(b, out, schema, ev, e, "OPEN", "")
		}
	case cmp.TypeDealWon:
		var e cmp.DealWon
		if e, err = decode[cmp.DealWon](b, ev); err == nil {
			c.deal(b, out, schema, ev, cmp.DealOpened(e), "WON", "")
		}
	case cmp.TypeDealLost:
		var e cmp.DealLost
		if e, err = decode[cmp.DealLost](b, ev); err == nil {
			d := cmp.DealOpened{DealID: e.DealID, CustomerID: e.CustomerID, CampaignID: e.CampaignID, OfferID: e.OfferID,
				SalesRepID: e.SalesRepID, Product: e.Product, Value: e.Value}
			c.deal(b, out, schema, ev, d, "LOST", e.Reason)
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("campaigns: %s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}

// deal upserts the deal at stage (the events repeat all of its data, so a
// missing predecessor loses nothing) and has its campaign's totals
// recomputed once the batch's deals are written. A deal's campaign is the
// one it was first recorded with (it never changes in the campaigns area),
// so the campaign recomputed is the same however events are batched.
func (Campaigns) deal(b *consumer.Batch, out *[]Change, schema string, ev eventlog.Event, d cmp.DealOpened, stage, reason string) {
	lockKeys(b, schema+".campaigns", d.CampaignID)
	b.Upsert(consumer.Table{Name: schema + ".deals", Key: "id", InsertOnly: dealInsertOnly, Casts: amountCast}, nil, d.DealID,
		"customer_id", d.CustomerID, "campaign_id", nullIfEmpty(d.CampaignID), "offer_id", nullIfEmpty(d.OfferID),
		"sales_rep_id", nullIfEmpty(d.SalesRepID), "product", d.Product, "amount", d.Value.Amount,
		"currency", d.Value.CurrencyCode, "stage", stage, "lost_reason", nullIfEmpty(reason), "version", ev.Version,
		"created_at", ev.RecordedAt, "updated_at", ev.RecordedAt)
	*out = append(*out, Change{Kind: KindDeal, ID: d.DealID,
		Refs: refs(RefCustomer, d.CustomerID, RefCampaign, d.CampaignID, RefSalesperson, d.SalesRepID)})
	// Only an existing campaign is updated: CampaignCreated counts the deals
	// that came first.
	b.Refresh(`UPDATE `+schema+`.campaigns AS c SET (open_deal_count, won_totals) = (SELECT `+
		dealTotals(schema+".deals", "campaign_id", "c.id")+`)
		WHERE c.id IN (SELECT campaign_id FROM `+schema+`.deals WHERE id = ANY($1::text[]))
		RETURNING c.id`, d.DealID, campaignChanged(out))
}

// dealInsertOnly are the deals columns set only when a deal is first
// recorded: its campaign and creation time.
var dealInsertOnly = []string{"campaign_id", "created_at"}

// campaignRow queues a statement returning the campaign's id, under the
// campaign's lock, and names the changed campaign in out (no row when the
// campaign is unknown: no change).
func campaignRow(b *consumer.Batch, out *[]Change, schema, id, sql string, args ...any) {
	lockKeys(b, schema+".campaigns", id)
	b.QueryRow(campaignChanged(out), sql, args...)
}

// campaignChanged names in out each campaign a statement returns as (id).
func campaignChanged(out *[]Change) func(pgx.Row) error {
	return func(row pgx.Row) error {
		var id string
		if err := row.Scan(&id); err != nil {
			return err
		}
		*out = append(*out, Change{Kind: KindCampaign, ID: id, Refs: refs(RefCampaign, id)})
		return nil
	}
}
