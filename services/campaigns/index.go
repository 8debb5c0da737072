package campaigns

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/pgmigrate"
	"crm/services/campaigns/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the area's tables in schema: the event log
// (eventlog.Migrate) and the deal index, which it fills from the deals
// already in the log when it creates it. Idempotent, and safe to run from
// several processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		return err
	}
	return pgmigrate.Apply(ctx, pool, schema, Area, migrations)
}

// Inline returns the statements that keep the deal index of the log in
// schema in step with the log, for eventlog.Config.Inline: they run in the
// transaction that appends the events, so the index never lags the log and
// never holds a deal the log does not. It fails (refusing the appends of
// its batch) on an invalid schema name or a DealOpened whose data is not
// the event's JSON.
func Inline(schema string) func(events []eventlog.Event) ([]eventlog.Statement, error) {
	// Two statements per batch at most, whatever its size: a round trip
	// per statement is what a group commit pays for.
	insert := "INSERT INTO " + schema + ".deal_index (deal_id, customer_id, stage, position) " +
		"SELECT d, c, '" + string(domain.StageOpen) + "', p FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(d, c, p) " +
		"ON CONFLICT (deal_id) DO NOTHING"
	update := "UPDATE " + schema + ".deal_index AS i SET stage = u.s, position = u.p " +
		"FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(d, s, p) WHERE i.deal_id = u.d"
	valid := pgmigrate.ValidIdent(schema)
	return func(events []eventlog.Event) ([]eventlog.Statement, error) {
		if !valid {
			return nil, fmt.Errorf("campaigns: deal index: invalid schema %q", schema)
		}
		var opened, ended struct {
			deals, other []string
			positions    []int64
		}
		for _, e := range events {
			switch e.Type {
			case domain.TypeDealOpened:
				var d struct {
					CustomerID string `json:"customerId"`
				}
				if err := json.Unmarshal(e.Data, &d); err != nil || d.CustomerID == "" {
					return nil, fmt.Errorf("campaigns: deal index: event %s of %s has no customerId (%v)", e.ID, e.StreamID, err)
				}
				opened.deals = append(opened.deals, e.StreamID)
				opened.other = append(opened.other, d.CustomerID)
				opened.positions = append(opened.positions, e.Position)
			case domain.TypeDealWon, domain.TypeDealLost:
				stage := domain.StageWon
				if e.Type == domain.TypeDealLost {
					stage = domain.StageLost
				}
				ended.deals = append(ended.deals, e.StreamID)
				ended.other = append(ended.other, string(stage))
				ended.positions = append(ended.positions, e.Position)
			}
		}
		var out []eventlog.Statement
		// Inserts first: a deal opened and ended in one batch (two appends
		// group-committed together) gets its row before the update.
		if len(opened.deals) > 0 {
			out = append(out, eventlog.Statement{SQL: insert, Args: []any{opened.deals, opened.other, opened.positions}})
		}
		// A deal ends once (its stream accepts one DealWon or DealLost), so
		// the update never meets two rows of u for one deal.
		if len(ended.deals) > 0 {
			out = append(out, eventlog.Statement{SQL: update, Args: []any{ended.deals, ended.other, ended.positions}})
		}
		return out, nil
	}
}

// indexPage bounds the deal ids one query of the index returns.
const indexPage = 500

// dealIndex reads the deal index in the log's schema.
type dealIndex struct {
	pool   *pgxpool.Pool
	schema string
}

// openDeals returns up to indexPage ids of the customer's OPEN deals that
// sort after after, in id order.
func (x dealIndex) openDeals(ctx context.Context, customerID, after string) ([]string, error) {
	if x.pool == nil {
		return nil, fmt.Errorf("campaigns: deal index: no pool")
	}
	rows, err := x.pool.Query(ctx, "SELECT deal_id FROM "+x.schema+".deal_index "+
		"WHERE customer_id = $1 AND stage = '"+string(domain.StageOpen)+"' AND deal_id > $2 ORDER BY deal_id LIMIT $3",
		customerID, after, indexPage)
	if err != nil {
		return nil, fmt.Errorf("campaigns: open deals of %s: %w", customerID, err)
	}
	deals, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("campaigns: open deals of %s: %w", customerID, err)
	}
	return deals, nil
}
