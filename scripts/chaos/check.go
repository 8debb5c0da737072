package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/scripts/cluster"
)

// readSearches find the markers in the read models: each query takes a
// LIKE pattern and returns (marker, rows holding it).
var readSearches = map[string]string{
	"customer-email":       `SELECT email, count(*) FROM read.customers WHERE registered AND email LIKE $1 GROUP BY 1`,
	"customer-name":        `SELECT name, count(*) FROM read.customers WHERE name LIKE $1 GROUP BY 1`,
	"salesperson-email":    `SELECT email, count(*) FROM read.salespeople WHERE email LIKE $1 GROUP BY 1`,
	"interest":             `SELECT i, count(*) FROM read.customers, unnest(interests) AS i WHERE i LIKE $1 GROUP BY 1`,
	"appointment-location": `SELECT location, count(*) FROM read.appointments WHERE registered AND location LIKE $1 GROUP BY 1`,
	"campaign-name":        `SELECT name, count(*) FROM read.campaigns WHERE name LIKE $1 GROUP BY 1`,
	"deal-product":         `SELECT product, count(*) FROM read.deals WHERE product LIKE $1 GROUP BY 1`,
}

// state is what the read models and logs hold of the run's markers.
type state struct {
	read map[string]map[string]int // search -> marker value -> rows
	log  map[string]map[string]int // area -> idempotency key (the marker) + "/" + event type -> events
}

// checker reads the cluster's databases through small pools.
type checker struct {
	c     *cluster.Cluster
	pools map[string]*pgxpool.Pool
}

func newChecker(ctx context.Context, c *cluster.Cluster) (*checker, error) {
	ch := &checker{c: c, pools: map[string]*pgxpool.Pool{}}
	for _, comp := range append(append([]string{}, cluster.Areas...), cluster.Read) {
		p, err := c.Pool(ctx, comp, 1)
		if err != nil {
			ch.close()
			return nil, err
		}
		ch.pools[comp] = p
	}
	return ch, nil
}

func (ch *checker) close() {
	for _, p := range ch.pools {
		p.Close()
	}
}

// retry runs f until it succeeds, for up to 30 s: a check's own
// connection may be one that a fault just terminated, or the shared
// server may be at its connection limit for a moment.
func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (ch *checker) counts(ctx context.Context, comp, sql, pattern string) (map[string]int, error) {
	out := map[string]int{}
	err := retry(ctx, func() error {
		clear(out)
		rows, err := ch.pools[comp].Query(ctx, sql, pattern)
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

// state reads every marker of the run from the read models and the logs.
func (ch *checker) state(ctx context.Context, prefix string) (state, error) {
	s := state{read: map[string]map[string]int{}, log: map[string]map[string]int{}}
	for name, sql := range readSearches {
		m, err := ch.counts(ctx, cluster.Read, sql, prefix+"%")
		if err != nil {
			return s, fmt.Errorf("read %s: %w", name, err)
		}
		s.read[name] = m
	}
	for _, area := range cluster.Areas {
		// The log's key is "<command>:<client key>". A command may append
		// more than its entity's event (an email claim, a calendar slot):
		// count by type, and "*" for all of them.
		m, err := ch.counts(ctx, area, `SELECT split_part(metadata->>'idempotencyKey', ':', 2) || '/' || type, count(*) FROM `+area+`.events
			WHERE metadata->>'idempotencyKey' LIKE $1 GROUP BY 1`, "%:"+prefix+"%")
		all := map[string]int{}
		for k, n := range m {
			key, _, _ := strings.Cut(k, "/")
			all[key+"/*"] += n
		}
		for k, n := range all {
			m[k] = n
		}
		if err != nil {
			return s, fmt.Errorf("log of %s: %w", area, err)
		}
		s.log[area] = m
	}
	return s, nil
}

// events describes the events of area's log recorded under the client key
// key, for the report of a violation.
func (ch *checker) events(ctx context.Context, area, key string) string {
	var b strings.Builder
	err := retry(ctx, func() error {
		b.Reset()
		rows, err := ch.pools[area].Query(ctx, `SELECT position, stream_id, version, type, event_id::text, recorded_at, metadata::text
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

// deadLetters counts parked events by consumer: the projector's
// ("read.customers"...) and each area's own consumers ("<area>:<name>").
func (ch *checker) deadLetters(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for comp, pool := range ch.pools {
		var rows []struct {
			name string
			n    int
		}
		err := retry(ctx, func() error {
			rows = rows[:0]
			r, err := pool.Query(ctx, `SELECT name, count(*) FROM `+comp+`.consumer_dead_letters GROUP BY 1`)
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var row struct {
					name string
					n    int
				}
				if err := r.Scan(&row.name, &row.n); err != nil {
					return err
				}
				rows = append(rows, row)
			}
			return r.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("dead letters of %s: %w", comp, err)
		}
		for _, r := range rows {
			key := r.name
			if comp != cluster.Read {
				key = comp + ":" + r.name
			}
			out[key] = r.n
		}
	}
	return out, nil
}

// settled waits until every projection's lag is 0 (the gateway's
// projections query) and returns how long that took.
func settled(ctx context.Context, gql *cluster.GQLClient, within time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(within)
	var last error
	for {
		r, err := gql.Do(ctx, `{ projections { name state lag } }`, nil)
		if err == nil && len(r.Errors) > 0 {
			err = fmt.Errorf("%s: %s", r.Code(), r.Errors[0].Message)
		}
		if err == nil {
			var ps []struct {
				Name, State string
				Lag         int
			}
			err = json.Unmarshal(r.Data["projections"], &ps)
			for _, p := range ps {
				if err == nil && p.Lag != 0 {
					err = fmt.Errorf("projection %s: %s, lag %d", p.Name, p.State, p.Lag)
				}
			}
			if err == nil && len(ps) == 0 {
				err = errors.New("no projections")
			}
		}
		if err == nil {
			return time.Since(start), nil
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("read side not settled within %v: %v", within, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// verify runs `crm verify` as its own process. It returns "pass", or
// "n/a" when the binary has no verify subcommand yet; a failure is an
// error carrying the command's output.
func verify(ctx context.Context, c *cluster.Cluster) (string, error) {
	var out string
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if out, err = c.Run(ctx, 5*time.Minute, "verify"); err == nil {
			return "pass", nil
		}
		if !cluster.TooManyClients(out) {
			break
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 && strings.Contains(out, "unknown subcommand") {
		return "n/a", nil
	}
	if len(out) > 4000 {
		out = out[:4000] + "\n..."
	}
	return "FAIL", fmt.Errorf("crm verify: %v:\n%s", err, out)
}
