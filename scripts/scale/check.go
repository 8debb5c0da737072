package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/scripts/cluster"
)

// readSearches find the markers in the read models: each query takes a
// LIKE pattern and returns (marker, rows holding it).
var readSearches = map[string]string{
	"customer-email": `SELECT email, count(*) FROM read.customers WHERE registered AND email LIKE $1 GROUP BY 1`,
	// An update leaves no row of its own (the next one overwrites the
	// name): the events read model holds each applied event once.
	"customer-updated":     `SELECT data->>'name', count(*) FROM read.events WHERE area = 'customers' AND type = 'CustomerUpdated' AND data->>'name' LIKE $1 GROUP BY 1`,
	"salesperson-email":    `SELECT email, count(*) FROM read.salespeople WHERE email LIKE $1 GROUP BY 1`,
	"interest":             `SELECT i, count(*) FROM read.customers, unnest(interests) AS i WHERE i LIKE $1 GROUP BY 1`,
	"appointment-location": `SELECT location, count(*) FROM read.appointments WHERE registered AND location LIKE $1 GROUP BY 1`,
	"campaign-name":        `SELECT name, count(*) FROM read.campaigns WHERE name LIKE $1 GROUP BY 1`,
	"deal-product":         `SELECT product, count(*) FROM read.deals WHERE product LIKE $1 GROUP BY 1`,
}

// state is what the read models and the logs hold of the run's markers.
type state struct {
	read map[string]map[string]int // search -> marker -> rows
	// log: area -> client key + "/" + event type (or "/*" for any) -> events
	log map[string]map[string]int
	// versions: an updateCustomer's client key -> the stream version of
	// the CustomerUpdated it recorded.
	versions map[string]int64
}

// checker reads the cluster's databases through one-connection pools.
type checker struct {
	pools map[string]*pgxpool.Pool
}

func newChecker(ctx context.Context, c *cluster.Cluster) (*checker, error) {
	ch := &checker{pools: map[string]*pgxpool.Pool{}}
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

// retry runs f until it succeeds, for up to 30 s (the shared server may
// be at its connection limit for a moment).
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

// state reads every marker starting with prefix from the read models and
// the areas' logs.
func (ch *checker) state(ctx context.Context, prefix string) (state, error) {
	s := state{read: map[string]map[string]int{}, log: map[string]map[string]int{}, versions: map[string]int64{}}
	for name, sql := range readSearches {
		m, err := ch.counts(ctx, cluster.Read, sql, prefix+"%")
		if err != nil {
			return s, fmt.Errorf("read %s: %w", name, err)
		}
		s.read[name] = m
	}
	for _, area := range cluster.Areas {
		// The log's key is "<command>:<client key>"; a command may append
		// more than its entity's event (an email claim, a calendar slot).
		m, err := ch.counts(ctx, area, `SELECT split_part(metadata->>'idempotencyKey', ':', 2) || '/' || type, count(*) FROM `+area+`.events
			WHERE metadata->>'idempotencyKey' LIKE $1 GROUP BY 1`, "%:"+prefix+"%")
		if err != nil {
			return s, fmt.Errorf("log of %s: %w", area, err)
		}
		all := map[string]int{}
		for k, n := range m {
			key, _, _ := strings.Cut(k, "/")
			all[key+"/*"] += n
		}
		for k, n := range all {
			m[k] = n
		}
		s.log[area] = m
	}
	err := retry(ctx, func() error {
		rows, err := ch.pools["customers"].Query(ctx, `SELECT split_part(metadata->>'idempotencyKey', ':', 2), max(version) FROM customers.events
			WHERE type = 'CustomerUpdated' AND metadata->>'idempotencyKey' LIKE $1 GROUP BY 1`, "%:"+prefix+"%")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var v int64
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			s.versions[k] = v
		}
		return rows.Err()
	})
	if err != nil {
		return s, fmt.Errorf("versions of the updates: %w", err)
	}
	return s, nil
}

// events describes what area's log recorded under the client key key,
// for the report of a violation.
func (ch *checker) events(ctx context.Context, area, key string) string {
	var b strings.Builder
	err := retry(ctx, func() error {
		b.Reset()
		rows, err := ch.pools[area].Query(ctx, `SELECT position, stream_id, version, type, recorded_at, metadata::text
			FROM `+area+`.events WHERE metadata->>'idempotencyKey' LIKE $1 ORDER BY position`, "%:"+key)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pos, ver int64
			var stream, typ, meta string
			var at time.Time
			if err := rows.Scan(&pos, &stream, &ver, &typ, &at, &meta); err != nil {
				return err
			}
			fmt.Fprintf(&b, "\n\t\tposition %d stream %s version %d %s at %s %s", pos, stream, ver, typ, at.Format(time.RFC3339Nano), meta)
		}
		return rows.Err()
	})
	if err != nil {
		return "(events: " + err.Error() + ")"
	}
	return b.String()
}

// settled waits until every projection's lag is 0 (the projections query)
// and returns how long that took.
func settled(ctx context.Context, gql *cluster.GQLClient, within time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(within)
	for {
		err := lagZero(ctx, gql)
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("read side not settled within %v: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lagZero(ctx context.Context, gql *cluster.GQLClient) error {
	r, err := gql.Do(ctx, `{ projections { name state lag } }`, nil)
	if err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s: %s", r.Code(), r.Errors[0].Message)
	}
	var ps []struct {
		Name, State string
		Lag         int
	}
	if err := json.Unmarshal(r.Data["projections"], &ps); err != nil {
		return err
	}
	if len(ps) == 0 {
		return errors.New("no projections")
	}
	for _, p := range ps {
		if p.Lag != 0 {
			return fmt.Errorf("projection %s: %s, lag %d", p.Name, p.State, p.Lag)
		}
	}
	return nil
}

// verify runs `crm verify` with the cluster's environment; "pass" or an
// error carrying its output.
func verify(ctx context.Context, c *cluster.Cluster) (string, time.Duration, error) {
	start := time.Now()
	var out string
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if out, err = c.Run(ctx, 5*time.Minute, "verify"); err == nil {
			return "pass", time.Since(start), nil
		}
		if !cluster.TooManyClients(out) {
			break
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	if len(out) > 4000 {
		out = out[:4000] + "\n..."
	}
	return "FAIL", time.Since(start), fmt.Errorf("crm verify: %v:\n%s", err, out)
}

// judge checks every mutation against st: an acknowledged one must be in
// its read model and its area's log exactly once, a refused one nowhere.
func (ch *checker) judge(ctx context.Context, st state, muts []*mutation, r *Report) []string {
	var bad []string
	for _, m := range muts {
		rows := st.read[m.kind.read][m.kind.value(m)]
		events := st.log[m.kind.area][m.key+"/"+m.kind.event]
		if m.outcome != acked {
			events = st.log[m.kind.area][m.key+"/*"]
		}
		r.Sent++
		if m.open > 0 {
			r.Retried++
		}
		if m.transport > 0 {
			r.FailedOver++
		}
		if rows > 1 || events > 1 {
			r.Duplicates++
			bad = append(bad, fmt.Sprintf("%s %s: %d read-model rows, %d log events:%s", m.kind.field, m.key, rows, events,
				ch.events(ctx, m.kind.area, m.key)))
		}
		switch m.outcome {
		case acked:
			r.Acked++
			if v := st.versions[m.key]; m.kind == kUpdateCustomer && v > 0 && m.version < v {
				r.StaleAnswers++
				bad = append(bad, fmt.Sprintf("%s %s: read-your-writes: answered (gateway-%d, %d attempts, sent %s, answered %s) with the customer at version %d, before its own event (version %d):%s",
					m.kind.field, m.key, m.ackGW+1, m.attempts, m.sentAt.Format("15:04:05.000"), m.ackAt.Format("15:04:05.000"), m.version, v,
					ch.events(ctx, m.kind.area, m.key)))
			}
			if rows == 1 && events == 1 {
				r.Visible++
			} else if rows == 0 || events == 0 {
				r.Lost++
				bad = append(bad, fmt.Sprintf("%s %s: acknowledged (gateway-%d, %d attempts) but %d read-model rows, %d log events:%s",
					m.kind.field, m.key, m.ackGW+1, m.attempts, rows, events, ch.events(ctx, m.kind.area, m.key)))
			}
		case refused:
			r.Refused++
			if rows > 0 || events > 0 {
				bad = append(bad, fmt.Sprintf("%s %s: refused with %s (%s) but left %d read-model rows, %d log events:%s",
					m.kind.field, m.key, m.code, m.lastErr, rows, events, ch.events(ctx, m.kind.area, m.key)))
			}
		default:
			r.Unresolved++
			bad = append(bad, fmt.Sprintf("%s %s: no answer after %d attempts (last: %s)", m.kind.field, m.key, m.attempts, m.lastErr))
		}
	}
	return bad
}
