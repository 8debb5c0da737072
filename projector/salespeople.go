package projector

import (
	"fmt"
	"io/fs"

	"crm/eventlog"
	"crm/eventlog/consumer"
	rel "crm/services/relationships/contract"
)

// Salespeople is the salesperson read model (table salespeople), fed by
// the relationships area alone: a salesperson exists once registered and
// has no later events.
type Salespeople struct{}

// Name implements Projection.
func (Salespeople) Name() string { return "salespeople" }

// Sources implements Projection.
func (Salespeople) Sources() []string { return []string{AreaRelationships} }

// Migrations implements Projection.
func (Salespeople) Migrations() fs.FS { return migrationsOf("salespeople") }

// Tables implements Projection.
func (Salespeople) Tables() []string { return []string{"salespeople"} }

// Apply implements Projection. It fails on malformed event data or a
// database error.
func (Salespeople) Apply(b *consumer.Batch, schema string, ev eventlog.Event, area string, out *[]Change) error {
	if area != AreaRelationships || ev.Type != rel.TypeSalespersonRegistered {
		return nil
	}
	e, err := decode[rel.SalespersonRegistered](b, ev)
	if err == nil {
		b.Exec(`INSERT INTO `+schema+`.salespeople (id, name, email, role, manager_id, version, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, role = $4, manager_id = $5, version = $6, created_at = $7`,
			e.SalespersonID, e.Name, e.Email, string(e.Role), nullIfEmpty(e.ManagerID), ev.Version, e.RegisteredAt)
	}
	if err != nil {
		return fmt.Errorf("salespeople: %s %s: %w", ev.Type, ev.ID, err)
	}
	*out = append(*out, Change{Kind: KindSalesperson, ID: e.SalespersonID, Refs: refs(RefSalesperson, e.SalespersonID)})
	return nil
}
