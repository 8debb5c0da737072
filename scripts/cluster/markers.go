package cluster

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A run's mutations carry markers: each one's idempotency key, which its
// data also holds (a name, an email, a location...), so that the read
// models and the area's log can be searched for it. Markers reads them.

// readSearches are the read-model searches every run uses (see
// MarkerSearches).
var readSearches = map[string]string{
	"customer-email":       `SELECT email, count(*) FROM read.customers WHERE registered AND email LIKE $1 GROUP BY 1`,
	"salesperson-email":    `SELECT email, count(*) FROM read.salespeople WHERE email LIKE $1 GROUP BY 1`,
	"interest":             `SELECT i, count(*) FROM read.customers, unnest(interests) AS i WHERE i LIKE $1 GROUP BY 1`,
	"appointment-location": `SELECT location, count(*) FROM read.appointments WHERE registered AND location LIKE $1 GROUP BY 1`,
	"campaign-name":        `SELECT name, count(*) FROM read.campaigns WHERE name LIKE $1 GROUP BY 1`,
	"deal-product":         `SELECT product, count(*) FROM read.deals WHERE product LIKE $1 GROUP BY 1`,
}

// MarkerSearches returns the read-model searches that find the markers
// of the usual mutations (customer-email, salesperson-email, interest,
// appointment-location, campaign-name, deal-product) plus extra. Each
// query takes a LIKE pattern and returns (marker, rows holding it).
func MarkerSearches(extra map[string]string) map[string]string {
	out := maps.Clone(readSearches)
	maps.Copy(out, extra)
	return out
}

// MarkerState is what the read models and the logs hold of a run's markers.
type MarkerState struct {
	// Read: search name -> marker -> rows.
	Read map[string]map[string]int
	// Log: area -> client key + "/" + event type (or "/*" for any) -> events.
	Log map[string]map[string]int
}

// Markers reads the cluster's databases through one-connection pools.
type Markers struct {
	pools map[string]*pgxpool.Pool
}

// NewMarkers opens a one-connection pool on each area's database and the
// read database; the caller closes it.
func NewMarkers(ctx context.Context, c *Cluster) (*Markers, error) {
	m := &Markers{pools: map[string]*pgxpool.Pool{}}
	for _, comp := range append(append([]string{}, Areas...), Read) {
		p, err := c.Pool(ctx, comp, 1)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.pools[comp] = p
	}
	return m, nil
}

// Close closes the pools.
func (m *Markers) Close() {
	for _, p := range m.pools {
		p.Close()
	}
}

// Retry runs f until it succeeds, for up to 30 s: a check's own
// connection may be one that a fault just terminated, or the shared
// server may be at its connection limit for a moment. It returns f's last
// error.
func Retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Counts runs sql with args on comp's database ("read" or an area), with
// Retry; sql returns (key, count) rows.
func (m *Markers) Counts(ctx context.Context, comp, sql string, args ...any) (map[string]int, error) {
	out := map[string]int{}
	err := Retry(ctx, func() error {
		clear(out)
		rows, err := m.pools[comp].Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			out[k] = n
		}
		return rows.Err()
	})
	return out, err
}

// ClientKeySQL is the client's idempotency key of a log event, in SQL:
// the log keeps `<command>:"<actor>":<client key>` (kit.IdempotencyKey).
const ClientKeySQL = `regexp_replace(metadata->>'idempotencyKey', '^[^:]*:"(?:[^"\\]|\\.)*":', '')`

// State reads every marker starting with prefix from the read models,
// through searches (see MarkerSearches), and from the areas' logs.
func (m *Markers) State(ctx context.Context, prefix string, searches map[string]string) (MarkerState, error) {
	s := MarkerState{Read: map[string]map[string]int{}, Log: map[string]map[string]int{}}
	for name, sql := range searches {
		got, err := m.Counts(ctx, Read, sql, prefix+"%")
		if err != nil {
			return s, fmt.Errorf("read %s: %w", name, err)
		}
		s.Read[name] = got
	}
	for _, area := range Areas {
		// A command may append more than its entity's event (an email
		// claim, a calendar slot): count by type, and "*" for all of them.
		got, err := m.Counts(ctx, area, `SELECT `+ClientKeySQL+` || '/' || type, count(*) FROM `+area+`.events
			WHERE metadata->>'idempotencyKey' LIKE $1 GROUP BY 1`, "%:"+prefix+"%")
		if err != nil {
			return s, fmt.Errorf("log of %s: %w", area, err)
		}
		all := map[string]int{}
		for k, n := range got {
			key, _, _ := strings.Cut(k, "/")
			all[key+"/*"] += n
		}
		maps.Copy(got, all)
		s.Log[area] = got
	}
	return s, nil
}

// Events describes the events of area's log recorded under the client
// key key, for the report of a violation (or the error reading them).
func (m *Markers) Events(ctx context.Context, area, key string) string {
	var b strings.Builder
	err := Retry(ctx, func() error {
		b.Reset()
		rows, err := m.pools[area].Query(ctx, `SELECT position, stream_id, version, type, event_id::text, recorded_at, metadata::text
			FROM `+area+`.events WHERE metadata->>'idempotencyKey' LIKE $1 ORDER BY position`, "%:"+key)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pos, ver int64
			var stream, typ, id, meta string
			var at time.Time
			if err := rows.Scan(&pos, &stream, &ver, &typ, &id, &at, &meta); err != nil {
				return err
			}
			fmt.Fprintf(&b, "\n\t\tposition %d stream %s version %d %s id %s at %s %s", pos, stream, ver, typ, id, at.Format(time.RFC3339Nano), meta)
		}
		return rows.Err()
	})
	if err != nil {
		return "(events: " + err.Error() + ")"
	}
	return b.String()
}

// DeadLetters counts parked events by consumer: the projector's
// ("read.customers"...) and each area's own consumers ("<area>:<name>").
func (m *Markers) DeadLetters(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for comp := range m.pools {
		got, err := m.Counts(ctx, comp, `SELECT name, count(*) FROM `+comp+`.consumer_dead_letters GROUP BY 1`)
		if err != nil {
			return nil, fmt.Errorf("dead letters of %s: %w", comp, err)
		}
		for name, n := range got {
			if comp != Read {
				name = comp + ":" + name
			}
			out[name] = n
		}
	}
	return out, nil
}
