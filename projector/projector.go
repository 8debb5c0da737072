package projector

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"reflect"

	"github.com/jackc/pgx/v5/pgxpool"
	segjson "github.com/segmentio/encoding/json"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/pgmigrate"
)

// The areas that feed projections.
const (
	AreaCustomers     = "customers"
	AreaAppointments  = "appointments"
	AreaRelationships = "relationships"
	AreaCampaigns     = "campaigns"
)

// Ref keys of Change.Refs.
const (
	RefCustomer    = "customerId"
	RefSalesperson = "salespersonId"
	RefCampaign    = "campaignId"
)

//go:embed migrations
var migrationFiles embed.FS

// migrationsOf returns the file system whose "migrations" directory holds
// projection name's migrations.
func migrationsOf(name string) fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations/"+name)
	if err != nil {
		panic(fmt.Sprintf("projector: migrations of %s: %v", name, err)) // embedded: cannot happen
	}
	return sub
}

// All returns every projection of the read side, in a fixed order.
func All() []Projection {
	return []Projection{Customers{}, Salespeople{}, Appointments{}, Campaigns{}, Events{}}
}

// ByName returns the projection of All named name, or false.
func ByName(name string) (Projection, bool) {
	for _, p := range All() {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// ConsumerName is the consumer name of projection name's consumers
// ("read.<name>"), under which their checkpoints and dead letters are kept.
func ConsumerName(name string) string { return "read." + name }

// Migrate creates or updates, in schema of the read database, the consumer
// framework's checkpoint tables and the tables of every projection in ps
// (component "proj_<name>"). It is idempotent and safe from several
// processes at once. It fails on an invalid schema name or a database error.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, ps ...Projection) error {
	if err := consumer.Migrate(ctx, pool, schema); err != nil {
		return fmt.Errorf("projector: migrate: %w", err)
	}
	for _, p := range ps {
		if err := pgmigrate.Apply(ctx, pool, schema, "proj_"+p.Name(), p.Migrations()); err != nil {
			return fmt.Errorf("projector: migrate %s: %w", p.Name(), err)
		}
	}
	return nil
}

// decode unmarshals an event's data; a malformed event is an error, so the
// consumer retries and then parks it rather than applying half of it, or
// writing rows no query reaches: well-typed JSON that no area records (see
// wellFormed) is malformed too, since null or {} would upsert a row whose
// id is "".
//
// Each event's data is decoded once per type and batch: the projections an
// area feeds are sinks of one consumer, applying the same events in one
// batch, and share the decoded value (consumer.Batch.Memo; values are only
// read).
func decode[T any](b *consumer.Batch, ev eventlog.Event) (T, error) {
	v, err := b.Memo(decodeKey{id: ev.ID, t: reflect.TypeFor[T]()}, func() (any, error) {
		return decodeData[T](ev.Data, ev.Type)
	})
	t, _ := v.(T)
	return t, err
}

// decodeKey names one event's data decoded into one type.
type decodeKey struct {
	id string
	t  reflect.Type
}

// decodeData unmarshals and checks data, the payload of an event of type
// typ (see decode). It decodes with segmentio/encoding/json: the
// semantics of encoding/json (the same struct tags, case-insensitive
// names, errors for the same malformed input) in about a quarter of the
// time, and payload decoding is the largest CPU cost of a rebuild and a
// catch-up (docs/projector.md).
func decodeData[T any](data []byte, typ string) (T, error) {
	var v T
	if err := segjson.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", typ, err)
	}
	if err := wellFormed(reflect.ValueOf(v)); err != nil {
		return v, fmt.Errorf("decode %s: %w", typ, err)
	}
	return v, nil
}

// refs builds a Refs map from key/value pairs, leaving out empty values.
func refs(kv ...string) map[string]string {
	var m map[string]string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if m == nil {
			m = make(map[string]string, len(kv)/2)
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

// nullIfEmpty maps "" to SQL NULL.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// deref maps a NULL text column to "".
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nonNilStrings keeps text[] columns NOT NULL when an event carries no list.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// lockKeys serializes, per entity id, the transactions of different
// consumers (areas, or partitions of one area) that write rows another
// reads to compute a derived value: a name copied into appointments, a
// customer's counts over its appointments and deals, a campaign's totals
// over its deals. Under READ COMMITTED, without the lock each could compute
// from a snapshot missing the other's uncommitted row. Ids are locked in
// order, so two events' locks cannot deadlock each other. scope is the
// schema-qualified table family ("read.customers"): projections' locks stay
// apart, and a rebuild writing a scratch schema never waits on (or
// deadlocks with) the live consumers.
func lockKeys(b *consumer.Batch, scope string, ids ...string) {
	for _, id := range ids {
		if id != "" {
			b.Lock(scope + ":" + id)
		}
	}
}

// handler adapts a projection to the consumer framework for one source
// area: each event's result is a *[]Change that the batch's rows fill in.
func handler(p Projection, schema, area string) consumer.Handler {
	return consumer.HandlerFunc(func(_ context.Context, b *consumer.Batch, ev eventlog.Event) (any, error) {
		out := &[]Change{}
		if err := p.Apply(b, schema, ev, area, out); err != nil {
			return nil, err
		}
		return out, nil
	})
}
