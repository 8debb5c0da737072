package main

import (
	"context"
	"fmt"

	"crm/scripts/cluster"
)

// readSearches find the markers in the read models (cluster.MarkerSearches).
var readSearches = cluster.MarkerSearches(map[string]string{
	// An update leaves no row of its own (the next one overwrites the
	// name): the events read model holds each applied event once.
	"customer-updated": `SELECT data->>'name', count(*) FROM read.events WHERE area = 'customers' AND type = 'CustomerUpdated' AND data->>'name' LIKE $1 GROUP BY 1`,
})

// state is what the read models and the logs hold of the run's markers,
// and the versions the updates recorded.
type state struct {
	cluster.MarkerState
	// versions: an updateCustomer's client key -> the stream version of
	// the CustomerUpdated it recorded.
	versions map[string]int64
}

// checker reads the cluster's databases.
type checker struct {
	*cluster.Markers
}

func newChecker(ctx context.Context, c *cluster.Cluster) (*checker, error) {
	m, err := cluster.NewMarkers(ctx, c)
	if err != nil {
		return nil, err
	}
	return &checker{m}, nil
}

// state reads every marker starting with prefix from the read models and
// the areas' logs, and the versions of the updates.
func (ch *checker) state(ctx context.Context, prefix string) (state, error) {
	ms, err := ch.State(ctx, prefix, readSearches)
	s := state{MarkerState: ms, versions: map[string]int64{}}
	if err != nil {
		return s, err
	}
	vs, err := ch.Counts(ctx, "customers", `SELECT `+cluster.ClientKeySQL+`, max(version) FROM customers.events
			WHERE type = 'CustomerUpdated' AND metadata->>'idempotencyKey' LIKE $1 GROUP BY 1`, "%:"+prefix+"%")
	if err != nil {
		return s, fmt.Errorf("versions of the updates: %w", err)
	}
	for k, v := range vs {
		s.versions[k] = int64(v)
	}
	return s, nil
}

// judge checks every mutation against st: an acknowledged one must be in
// its read model and its area's log exactly once, a refused one nowhere.
func (ch *checker) judge(ctx context.Context, st state, muts []*mutation, r *Report) []string {
	var bad []string
	for _, m := range muts {
		rows := st.Read[m.kind.read][m.kind.value(m)]
		events := st.Log[m.kind.area][m.key+"/"+m.kind.event]
		if m.Result != cluster.Acked {
			events = st.Log[m.kind.area][m.key+"/*"]
		}
		r.Sent++
		if m.Open > 0 {
			r.Retried++
		}
		if m.Transport > 0 {
			r.FailedOver++
		}
		if rows > 1 || events > 1 {
			r.Duplicates++
			bad = append(bad, fmt.Sprintf("%s %s: %d read-model rows, %d log events:%s", m.kind.field, m.key, rows, events,
				ch.Events(ctx, m.kind.area, m.key)))
		}
		switch m.Result {
		case cluster.Acked:
			r.Acked++
			if v := st.versions[m.key]; m.kind == kUpdateCustomer && v > 0 && m.version < v {
				r.StaleAnswers++
				bad = append(bad, fmt.Sprintf("%s %s: read-your-writes: answered (gateway-%d, %d attempts, sent %s, answered %s) with the customer at version %d, before its own event (version %d):%s",
					m.kind.field, m.key, m.ackGW+1, m.Attempts, m.SentAt.Format("15:04:05.000"), m.DoneAt.Format("15:04:05.000"), m.version, v,
					ch.Events(ctx, m.kind.area, m.key)))
			}
			if rows == 1 && events == 1 {
				r.Visible++
			} else if rows == 0 || events == 0 {
				r.Lost++
				bad = append(bad, fmt.Sprintf("%s %s: acknowledged (gateway-%d, %d attempts) but %d read-model rows, %d log events:%s",
					m.kind.field, m.key, m.ackGW+1, m.Attempts, rows, events, ch.Events(ctx, m.kind.area, m.key)))
			}
		case cluster.Refused:
			r.Refused++
			if rows > 0 || events > 0 {
				bad = append(bad, fmt.Sprintf("%s %s: refused with %s (%s) but left %d read-model rows, %d log events:%s",
					m.kind.field, m.key, m.Code, m.LastErr, rows, events, ch.Events(ctx, m.kind.area, m.key)))
			}
		default:
			r.Unresolved++
			bad = append(bad, fmt.Sprintf("%s %s: no answer after %d attempts (last: %s)", m.kind.field, m.key, m.Attempts, m.LastErr))
		}
	}
	return bad
}
