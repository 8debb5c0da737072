// Package projector keeps the read side's denormalized read models. Each
// projection owns its tables (in the read database's schema "read") and is
// fed by the consumer framework: one consumer per (projection, source area),
// named "read.<projection>", so a projection can be rebuilt alone. After
// each commit the projector announces what changed on the Redis channel
// "<ns>:changes", for subscriptions and the gateway's read-your-writes wait.
package projector

import (
	"io/fs"

	"crm/eventlog"
	"crm/eventlog/consumer"
)

// Entity kinds a change names.
const (
	KindCustomer    = "Customer"
	KindSalesperson = "Salesperson"
	KindAppointment = "Appointment"
	KindCampaign    = "Campaign"
	KindDeal        = "Deal"
	KindEvent       = "Event"
)

// Change says that one read model row changed: its kind and id, and the
// ids a subscription filters on (customerId, salespersonId, campaignId).
type Change struct {
	Kind string            `json:"kind"`
	ID   string            `json:"id"`
	Refs map[string]string `json:"refs,omitempty"`
}

// Projection is one read model: its tables and how events change them.
type Projection interface {
	// Name is the projection's name ("customers"): its consumers are named
	// "read.<name>" and `crm projections rebuild <name>` rebuilds it.
	Name() string
	// Sources are the areas whose logs feed it.
	Sources() []string
	// Migrations are its tables' migrations (a "migrations" directory of
	// tern files, templated with {{.schema}}), so that a rebuild can create
	// them in a scratch schema.
	Migrations() fs.FS
	// Tables are the tables it owns, swapped as a whole after a rebuild.
	Tables() []string
	// Apply queues on b the statements that apply one event, with every
	// table qualified by schema, and records in out what they change
	// (directly, or from their rows once the batch has run). Events of one
	// stream come in order; events of different areas may come in any
	// order, so Apply must converge whatever the interleaving (upserts, not
	// inserts that assume another area's row exists). Events it ignores
	// queue nothing. It fails only on malformed event data; a statement's
	// failure fails the event too.
	Apply(b *consumer.Batch, schema string, ev eventlog.Event, area string, out *[]Change) error
}

// QueryIndexed is implemented by a projection whose tables have indexes
// that only queries read, never its Apply (nor the statements Apply queues):
// a rebuild drops them from the scratch tables before the replay and
// creates each in one pass after it, instead of updating them for every
// row version the replay writes.
type QueryIndexed interface {
	// QueryIndexes names those indexes, as its migrations create them.
	QueryIndexes() []string
}
