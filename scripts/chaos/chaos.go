// Package chaos is the fault-injection suite (`make chaos`; a shortened
// run is part of `make test`). It runs the CRM as separate processes
// (scripts/cluster), drives a bounded load of mixed mutations from several
// clients, and while it runs kills projectors and services, flushes and
// restarts Redis, terminates an area's PostgreSQL sessions and injects a
// poison event. After each fault it checks that every acknowledged
// mutation is in the read models and its area's log exactly once, that
// refused ones left no trace, that the dead letters are exactly the
// injected poison and that `crm verify` passes, and it prints a table.
// docs/chaos.md explains each fault and what it shows.
package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"crm/scripts/cluster"
)

// Options size a run.
type Options struct {
	// Mutations is the load of one phase (at least; the load goes on until
	// the fault is over, up to 4x).
	Mutations int
	// Clients send mutations concurrently, one at a time each.
	Clients int
	// RetryWindow bounds how long a client retries an open answer.
	RetryWindow time.Duration
	// ProjectorDown is how long the killed projector stays dead.
	ProjectorDown time.Duration
	// KillAreas are the areas whose service is killed, one fault each.
	KillAreas []string
	// RedisDown is how long Redis stays stopped.
	RedisDown time.Duration
	// TerminateArea's sessions are terminated for TerminateFor.
	TerminateArea string
	TerminateFor  time.Duration
	// Poison is the number of poison events injected.
	Poison int
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// Short is the run `make test` does; Full is `make chaos`.
var (
	Short = Options{Mutations: 36, Clients: 4, RetryWindow: 90 * time.Second, ProjectorDown: 2 * time.Second,
		KillAreas: []string{"customers"}, RedisDown: 5 * time.Second, TerminateArea: "appointments",
		TerminateFor: 2 * time.Second, Poison: 1}
	Full = Options{Mutations: 300, Clients: 6, RetryWindow: 120 * time.Second, ProjectorDown: 3 * time.Second,
		KillAreas: cluster.Areas, RedisDown: 5 * time.Second, TerminateArea: "appointments",
		TerminateFor: 5 * time.Second, Poison: 3}
)

// Row is one line of the result table.
type Row struct {
	Fault      string
	Sent       int // mutations sent in the phase (good and bad)
	Acked      int // returned success
	Refused    int // returned an error saying nothing was recorded
	Visible    int // acknowledged and found exactly once in read model and log
	Duplicates int // found more than once
	Ambiguous  int // answers retried with the same key (transport error, CONSISTENCY_TIMEOUT)
	Phantoms   int // answered UNAVAILABLE ("nothing was recorded") but recorded once
	Converge   time.Duration
	Verify     string
	Violations []string
}

// suite is one run against one cluster.
type suite struct {
	c        *cluster.Cluster
	o        Options
	load     *load
	check    *cluster.Markers
	poisoned int // poison events injected so far
	logf     func(format string, args ...any)
}

// Run runs the setup and every fault against c, returning the table's
// rows; the error lists every violation found (a failed check goes on to
// the next fault, so one run shows them all).
func Run(ctx context.Context, c *cluster.Cluster, o Options) ([]Row, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := &suite{c: c, o: o, logf: o.Logf, load: newLoad(hex.EncodeToString(b[:]), o.RetryWindow, c.Gateways, o.Clients)}
	var err error
	if s.check, err = cluster.NewMarkers(ctx, c); err != nil {
		return nil, err
	}
	defer s.check.Close()
	gql := cluster.NewGQLClient(c.Gateways[0], 10*time.Second)
	if _, err := cluster.Settled(ctx, gql, 2*time.Minute); err != nil {
		return nil, err
	}
	if err := s.load.setup(ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	var rows []Row
	var errs []error
	for i, f := range defaultFaults(o) {
		row, err := s.phase(ctx, i+1, f, gql)
		rows = append(rows, row)
		s.logf("%s: sent %d, acked %d, refused %d, visible %d, duplicates %d, ambiguous %d, converge %v, verify %s",
			row.Fault, row.Sent, row.Acked, row.Refused, row.Visible, row.Duplicates, row.Ambiguous, row.Converge.Round(10*time.Millisecond), row.Verify)
		for _, v := range row.Violations {
			errs = append(errs, fmt.Errorf("%s: %s", f.name, v))
		}
		if err != nil {
			return rows, errors.Join(append(errs, fmt.Errorf("%s: %w", f.name, err))...)
		}
	}
	return rows, errors.Join(errs...)
}

// phase runs the load with fault f striking a third of the way in, then
// checks everything the run wrote so far. The error is for a harness
// failure; what the system got wrong goes into the row's Violations.
func (s *suite) phase(ctx context.Context, n int, f fault, gql *cluster.GQLClient) (Row, error) {
	row := Row{Fault: f.name}
	trigger, faultDone := make(chan struct{}), make(chan struct{})
	var recovered, converged time.Time
	var ferr error
	go func() {
		defer close(faultDone)
		select {
		case <-trigger:
		case <-ctx.Done():
			return
		}
		s.logf("fault: %s", f.name)
		recovered, converged, ferr = f.run(ctx, s)
	}()
	s.load.phase(ctx, n, s.o.Mutations, trigger, faultDone)
	<-faultDone
	if ferr != nil {
		return row, fmt.Errorf("inject: %w", ferr)
	}
	s.poisoned += f.poison

	// Converged: every mutation sent before the recovery has its final
	// answer (and the fault's own effect is seen).
	last := converged
	for _, m := range s.load.all() {
		if m.phase == n && m.SentAt.Before(recovered) && m.DoneAt.After(last) {
			last = m.DoneAt
		}
	}
	row.Converge = max(0, last.Sub(recovered))

	if _, err := cluster.Settled(ctx, gql, 2*time.Minute); err != nil {
		// Later faults would only wait on the same stuck partitions.
		row.Violations = append(row.Violations, err.Error())
		return row, s.stuck(ctx, err)
	}
	if err := s.c.Dead(); err != nil {
		row.Violations = append(row.Violations, "a process died: "+err.Error())
	}
	st, err := s.check.State(ctx, s.load.prefix(), readSearches)
	if err != nil {
		return row, err
	}
	row.Violations = append(row.Violations, s.judge(ctx, st, n, &row)...)
	var mine []*mutation
	for _, m := range s.load.all() {
		if m.phase == n {
			mine = append(mine, m)
		}
	}
	s.logf("refusals: %s", refusalCodes(mine))
	dl, err := s.check.DeadLetters(ctx)
	if err != nil {
		return row, err
	}
	for name, k := range dl {
		want := 0
		if name == poisonConsumer {
			want = s.poisoned
		}
		if k != want {
			row.Violations = append(row.Violations, fmt.Sprintf("dead letters of %s: %d, want %d", name, k, want))
		}
	}
	if _, ok := dl[poisonConsumer]; !ok && s.poisoned > 0 {
		row.Violations = append(row.Violations, fmt.Sprintf("dead letters of %s: %d, want %d", poisonConsumer, dl[poisonConsumer], s.poisoned))
	}
	row.Verify, _, err = s.c.Verify(ctx)
	if err != nil {
		row.Violations = append(row.Violations, err.Error())
	}
	return row, nil
}

// stuck describes a read side that did not settle, with the consumer
// groups holding pending entries, for the report.
func (s *suite) stuck(ctx context.Context, cause error) error {
	pend, err := s.c.Redis.Pending(ctx, s.c.Namespace)
	if err != nil {
		return fmt.Errorf("%w (pending entries: %v)", cause, err)
	}
	return fmt.Errorf("%w; entries pending in Redis: %s", cause, strings.Join(pend, "; "))
}

// judge checks every mutation of the run so far against st and fills the
// counts of phase n's mutations into row.
func (s *suite) judge(ctx context.Context, st cluster.MarkerState, n int, row *Row) []string {
	var bad []string
	for _, m := range s.load.all() {
		r := st.Read[m.kind.read][m.kind.value(m)]
		// The entity's event (once at most), and any event at all (a
		// refusal must leave none; one command may record several, such as
		// an appointment and its calendar slot).
		l := st.Log[m.kind.area][m.key+"/"+m.kind.event]
		trace := st.Log[m.kind.area][m.key+"/*"]
		this := m.phase == n
		if this {
			row.Sent++
			row.Ambiguous += m.Open
		}
		if r > 1 || l > 1 {
			if this {
				row.Duplicates++
			}
			bad = append(bad, fmt.Sprintf("%s %s: %d read-model rows, %d log events:%s", m.kind.field, m.key, r, l,
				s.check.Events(ctx, m.kind.area, m.key)))
		}
		switch m.Result {
		case cluster.Acked:
			if this {
				row.Acked++
			}
			if m.kind.bad {
				bad = append(bad, fmt.Sprintf("%s %s: invalid input acknowledged", m.kind.field, m.key))
			} else if r == 1 && l == 1 {
				if this {
					row.Visible++
				}
			} else if r == 0 || l == 0 {
				bad = append(bad, fmt.Sprintf("%s %s: acknowledged (phase %d) but %d read-model rows, %d log events", m.kind.field, m.key, m.phase, r, l))
			}
		case cluster.Refused:
			if this {
				row.Refused++
			}
			if r > 0 || trace > 0 {
				if this && m.Code == "UNAVAILABLE" {
					row.Phantoms++
				}
				bad = append(bad, fmt.Sprintf("%s %s: refused with %s (%s) but left %d read-model rows, %d log events:%s",
					m.kind.field, m.key, m.Code, m.LastErr, r, trace, s.check.Events(ctx, m.kind.area, m.key)))
			}
		default:
			bad = append(bad, fmt.Sprintf("%s %s: no answer within %v after %d attempts (last: %s)",
				m.kind.field, m.key, s.o.RetryWindow, m.Attempts, m.LastErr))
		}
	}
	return bad
}

// PrintTable writes rows as an aligned table.
func PrintTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tsent\tacked\trefused\tvisible\tduplicates\tretried\tphantoms\tconverge\tverify\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", r.Fault, r.Sent, r.Acked, r.Refused, r.Visible, r.Duplicates,
			r.Ambiguous, r.Phantoms, r.Converge.Round(10*time.Millisecond), r.Verify)
	}
	tw.Flush()
}

// refusalCodes summarizes the codes of refused mutations, for the log.
func refusalCodes(ms []*mutation) string {
	n, msg := map[string]int{}, map[string]string{}
	for _, m := range ms {
		if m.Result == cluster.Refused {
			k := m.kind.field + "/" + m.Code
			n[k]++
			if !m.kind.bad {
				msg[k] = m.LastErr
			}
		}
	}
	var parts []string
	for k, v := range n {
		if msg[k] != "" {
			parts = append(parts, fmt.Sprintf("%s=%d (%q)", k, v, msg[k]))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
