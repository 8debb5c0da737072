package kit

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/errcode"
	"crm/eventlog/pgmigrate"
	"crm/services/wire"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrateReplica creates the replica table in schema.
func MigrateReplica(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return pgmigrate.Apply(ctx, pool, schema, "replica", migrations)
}

// Change is what one event of another area means for an area's replica:
// the entity (ID) now has Status (kept when "") and Attrs merged into its
// attributes.
type Change struct {
	ID     string
	Status string
	Attrs  map[string]any
}

// Mapper reads an event of the source area (decoding its JSON with the
// consuming area's own types) and returns the changes; none for events the
// replica ignores. An error parks the event as a dead letter.
type Mapper func(ev eventlog.Event) ([]Change, error)

// Entry is one replicated entity.
type Entry struct {
	ID     string
	Status string
	Attrs  map[string]any
}

// Replica is an area's local copy of what it needs of another area's
// entities, in its own database, fed by a consumer of that area's log. Its
// reads wait (bounded) for a consistency token's position, so a command
// never misses a write that completed before it was sent.
type Replica struct {
	pool       *pgxpool.Pool
	schema     string
	source     string // the area replicated
	name       string // the consumer's name
	partitions int
	wait       time.Duration
	mapper     Mapper
	waiter     consumer.Waiter
}

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	Pool   *pgxpool.Pool // the replicating area's database
	Schema string        // the replicating area's schema
	// Source is the replicated area; Name the consumer's name.
	Source, Name string
	Partitions   int           // of the source area's log (default 8)
	Wait         time.Duration // bound of a token wait (default 5s)
	Mapper       Mapper
	// Redis and Namespace let token waits finish as soon as the
	// replicated partition is applied (see consumer.Waiter).
	Redis     redis.UniversalClient
	Namespace string
}

// NewReplica returns a replica; Handler feeds it.
func NewReplica(cfg ReplicaConfig) *Replica {
	if cfg.Partitions == 0 {
		cfg.Partitions = 8
	}
	if cfg.Wait == 0 {
		cfg.Wait = 5 * time.Second
	}
	return &Replica{pool: cfg.Pool, schema: cfg.Schema, source: cfg.Source, name: cfg.Name,
		partitions: cfg.Partitions, wait: cfg.Wait, mapper: cfg.Mapper,
		waiter: consumer.Waiter{Pool: cfg.Pool, Schema: cfg.Schema, Name: cfg.Name, Area: cfg.Source, Redis: cfg.Redis, Namespace: cfg.Namespace}}
}

// Handler applies the source area's events to the replica, in the
// consumer's batch: one statement per batch for all its events (nothing
// else reads the replica within a batch). The statement folds the
// batch's changes of one entity in their order, as applying them one by
// one would: the last non-empty status, the attributes merged with later
// values winning, the position of the last; then merges the result into
// the row (an empty status keeps the row's).
func (r *Replica) Handler() consumer.Handler {
	q := `INSERT INTO ` + r.schema + `.replica AS r (area, id, status, attrs, position)
		SELECT u.a, u.i, coalesce((array_agg(u.s ORDER BY u.n DESC) FILTER (WHERE u.s <> ''))[1], ''),
			coalesce(jsonb_object_agg(e.key, e.value ORDER BY u.n) FILTER (WHERE e.key IS NOT NULL), '{}'),
			(array_agg(u.p ORDER BY u.n DESC))[1]
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]::jsonb[], $5::bigint[]) WITH ORDINALITY AS u(a, i, s, j, p, n)
			LEFT JOIN LATERAL jsonb_each(u.j) e ON true
		GROUP BY u.a, u.i
		ON CONFLICT (area, id) DO UPDATE SET status = coalesce(nullif(excluded.status, ''), r.status),
		attrs = r.attrs || excluded.attrs, position = excluded.position`
	return consumer.HandlerFunc(func(_ context.Context, b *consumer.Batch, ev eventlog.Event) (any, error) {
		changes, err := r.mapper(ev)
		if err != nil {
			return nil, err
		}
		for _, c := range changes {
			attrs := []byte("{}")
			if c.Attrs != nil {
				if attrs, err = json.Marshal(c.Attrs); err != nil {
					return nil, fmt.Errorf("replica of %s: attributes of %s: %w", r.source, c.ID, err)
				}
			}
			b.Rows(q, r.source, c.ID, c.Status, string(attrs), ev.Position)
		}
		return nil, nil
	})
}

// Get returns the replicated entity id, after waiting until the replica has
// applied the source area's log up to token's position for that area (for
// the entity's partition). The wait is bounded: CONSISTENCY_TIMEOUT when
// it runs out (nothing is recorded; a retry is safe).
func (r *Replica) Get(ctx context.Context, id string, token wire.Token) (Entry, bool, error) {
	if pos := token[r.source]; pos > 0 {
		wctx, cancel := context.WithTimeout(ctx, r.wait)
		err := r.waiter.Wait(wctx, eventlog.Partition(id, r.partitions), pos)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return Entry{}, false, errcode.Wrap(errcode.ConsistencyTimeout, err,
					"this service has not yet seen the %s written before this command; nothing was recorded, retry", r.source)
			}
			return Entry{}, false, unavailable(err)
		}
	}
	e := Entry{ID: id}
	var raw []byte
	err := r.pool.QueryRow(ctx, "SELECT status, attrs FROM "+r.schema+".replica WHERE area = $1 AND id = $2", r.source, id).Scan(&e.Status, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, unavailable(err)
	}
	if err := json.Unmarshal(raw, &e.Attrs); err != nil {
		return Entry{}, false, fmt.Errorf("replica %s %s: attrs: %w", r.source, id, err)
	}
	return e, true, nil
}

// StatusMapper is a Mapper for the common replica: the entity whose id is
// the event data's idField takes the status statusByType gives the event's
// type; other event types are ignored. attrFields are copied from the data
// into the entity's attributes when present.
func StatusMapper(idField string, statusByType map[string]string, attrFields ...string) Mapper {
	return func(ev eventlog.Event) ([]Change, error) {
		status, ok := statusByType[ev.Type]
		if !ok {
			return nil, nil
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			return nil, fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err)
		}
		id, _ := data[idField].(string)
		if id == "" {
			return nil, fmt.Errorf("%s %s: no %s", ev.Type, ev.ID, idField)
		}
		c := Change{ID: id, Status: status, Attrs: map[string]any{}}
		for _, f := range attrFields {
			if v, ok := data[f]; ok {
				c.Attrs[f] = v
			}
		}
		return []Change{c}, nil
	}
}

// React is a handler that calls fn for the events of one type only. fn
// runs at once, outside the consumer's transaction (it appends to the
// reacting area's log), while the batch is being built, and must be
// idempotent: the event is delivered again when the batch fails after fn
// succeeded. fn must not depend on the replica statements queued before it
// in the same batch (they have not run yet); reactions decide from the
// reacting area's own log.
func React(eventType string, fn func(ctx context.Context, ev eventlog.Event) error) consumer.Handler {
	return consumer.HandlerFunc(func(ctx context.Context, _ *consumer.Batch, ev eventlog.Event) (any, error) {
		if ev.Type != eventType {
			return nil, nil
		}
		return nil, fn(ctx, ev)
	})
}

// Fact maps a replicated entity's status to an area's own fact type:
// unknown when the replica does not hold id, else byStatus[status]. The
// lookup waits for the token as Get does.
func Fact[F any](ctx context.Context, r *Replica, id string, token wire.Token, unknown F, byStatus map[string]F) (F, error) {
	e, ok, err := r.Get(ctx, id, token)
	if err != nil || !ok {
		return unknown, err
	}
	f, known := byStatus[e.Status]
	if !known {
		return unknown, fmt.Errorf("replica of %s: %s has status %q", r.source, id, e.Status)
	}
	return f, nil
}

// DataField returns a string field of an event's data ("" when absent).
func DataField(ev eventlog.Event, field string) string {
	var data map[string]any
	if json.Unmarshal(ev.Data, &data) != nil {
		return ""
	}
	s, _ := data[field].(string)
	return s
}
