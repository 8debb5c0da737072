package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"crm/scripts/cluster"
)

// Report is what a run found.
type Report struct {
	Options Options
	Cluster string // the cluster's id (its databases' names)

	// Mutations, over the whole run.
	Sent, Acked, Refused, Unresolved int
	Visible                          int // acknowledged and found exactly once in read model and log
	Duplicates                       int // found more than once in read model or log
	Lost                             int // acknowledged but missing from read model or log
	// StaleAnswers are updates answered with the customer at a version
	// below their own event's: read-your-writes broken.
	StaleAnswers int
	Retried      int // had an open answer and were sent again with the same key
	FailedOver   int // had a transport error and were sent again through another gateway
	Refusals     string

	Timeline string
	// Failover: the mutations that met a transport error (the killed
	// gateway) and the latest of their answers after the kill.
	FailoverAnswered time.Duration
	Phases           []PhaseStats
	Latency          []LatencyStats
	Delivery         []DeliveryStats

	// Converge: from the load's last answer to lag 0, then to the last push.
	LastAnswer time.Duration // after the load's end
	Settle     time.Duration
	PushQuiet  time.Duration
	Verify     string
	VerifyTook time.Duration

	PushViolations []string
	// LatePushes describe late pushes when they are not violations
	// (Options.StrictPushes off).
	LatePushes []string
	Violations []string
}

// PhaseStats is the load of one phase: mutations sent in it, answers
// received in it.
type PhaseStats struct {
	Name           string
	From, To       time.Duration // since the load's start
	Sent, Acked    int           // sent in the phase; acknowledged in the phase
	Retried        int           // sent in the phase with an open answer
	P50, P99, Max  time.Duration // answer latency of those sent in the phase
	AckedPerSecond float64
}

// LatencyStats is the push latency on one gateway in one phase.
type LatencyStats struct {
	Gateway, Phase string
	Pushes, Early  int
	P50, P99       time.Duration
}

// DeliveryStats counts pushes received against expected for one group of
// subscribers.
type DeliveryStats struct {
	Group, Note         string
	Subscribers         int
	Expected, Received  int
	Superseded          int // no push of its own, but one showing a later version of the customer in time
	Late                int // the first push showing its version came more than pushGrace after the answer
	LateMax             time.Duration
	SubscriptionErrors  int
	ReconnectP50, ReMax time.Duration // moved: from losing the connection to subscribing again
}

type phase struct {
	name     string
	from, to time.Time
}

func (tl timeline) phases() []phase {
	if tl.kill.IsZero() {
		return []phase{{"whole run", tl.start, tl.end}}
	}
	ps := []phase{{"before kill", tl.start, tl.kill}}
	if tl.restart.IsZero() {
		return append(ps, phase{"after kill", tl.kill, tl.end})
	}
	return append(ps, phase{"after kill", tl.kill, tl.restart}, phase{"after restart", tl.restart, tl.end})
}

// liveFrom is when sb's subscription that received a push at at was
// surely live (registered with the gateway's hub), zero when unknown.
func (tl timeline) liveFrom(sb *subscriber, at time.Time, vgw int) time.Time {
	switch {
	case sb.group == groupRestart:
		return tl.restartSubs
	case sb.lostAt.IsZero() || at.Before(sb.lostAt):
		return tl.start
	case sb.home == vgw:
		return tl.moved
	default:
		return time.Time{}
	}
}

func phaseOf(ps []phase, t time.Time) int {
	for i := len(ps) - 1; i > 0; i-- {
		if !t.Before(ps[i].from) {
			return i
		}
	}
	return 0
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// fill computes the phase, latency and delivery figures; vgw is the
// killed gateway's index.
// versions are the updates' stream versions (state.versions).
// With strict, a late push is a violation.
func (r *Report) fill(muts []*mutation, versions map[string]int64, subsList []*subscriber, tl timeline, vgw, ngw int, strict bool) {
	ps := tl.phases()
	r.LastAnswer = tl.loadDone.Sub(tl.end)
	since := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return "+" + t.Sub(tl.start).Round(100*time.Millisecond).String()
	}
	r.Timeline = fmt.Sprintf("load +0s to %s; kill -9 of a projector and gateway-%d at %s; its subscribers live on the survivor at %s; restart at %s; fresh subscribers on it live at %s",
		since(tl.end), vgw+1, since(tl.kill), since(tl.moved), since(tl.restart), since(tl.restartSubs))

	// Phases.
	lat := make([][]time.Duration, len(ps))
	r.Phases = make([]PhaseStats, len(ps))
	for i, p := range ps {
		r.Phases[i] = PhaseStats{Name: p.name, From: p.from.Sub(tl.start), To: p.to.Sub(tl.start)}
	}
	byN := map[int]*mutation{}
	for _, m := range muts {
		byN[m.n] = m
		if m.Transport > 0 && !tl.kill.IsZero() {
			r.FailoverAnswered = max(r.FailoverAnswered, m.DoneAt.Sub(tl.kill))
		}
		i := phaseOf(ps, m.SentAt)
		r.Phases[i].Sent++
		if m.Open > 0 {
			r.Phases[i].Retried++
		}
		if m.Result == cluster.Acked {
			lat[i] = append(lat[i], m.DoneAt.Sub(m.SentAt))
			if j := phaseOf(ps, m.DoneAt); m.DoneAt.Before(tl.end) {
				r.Phases[j].Acked++
			}
		}
	}
	for i := range r.Phases {
		p := &r.Phases[i]
		p.P50, p.P99, p.Max = percentile(lat[i], 0.5), percentile(lat[i], 0.99), percentile(lat[i], 1)
		if d := (p.To - p.From).Seconds(); d > 0 {
			p.AckedPerSecond = float64(p.Acked) / d
		}
	}

	// Push latency, per gateway and phase (of the mutation's sending),
	// for mutations answered at their first attempt and sent while the
	// subscription was live (else the first push showing a marker may be
	// a later change's, or the current state pushed after a reconnect).
	type gp struct{ gw, ph int }
	plat := map[gp][]time.Duration{}
	early := map[gp]int{}
	for _, sb := range subsList {
		sb.mu.Lock()
		for n, p := range sb.pushes {
			m := byN[n]
			if m == nil || m.Result != cluster.Acked || m.Attempts != 1 {
				continue
			}
			if from := tl.liveFrom(sb, p.at, vgw); from.IsZero() || m.SentAt.Before(from) {
				continue
			}
			d := p.at.Sub(m.DoneAt)
			for _, k := range []gp{{p.gw, phaseOf(ps, m.SentAt)}, {p.gw, -1}} {
				plat[k] = append(plat[k], d)
				if d < 0 {
					early[k]++
				}
			}
		}
		sb.mu.Unlock()
	}
	for gw := 0; gw < ngw; gw++ {
		for ph := -1; ph < len(ps); ph++ {
			k := gp{gw, ph}
			name := "all"
			if ph >= 0 {
				name = ps[ph].name
			}
			if ph >= 0 && len(plat[k]) == 0 {
				continue
			}
			r.Latency = append(r.Latency, LatencyStats{Gateway: fmt.Sprintf("gateway-%d", gw+1), Phase: name,
				Pushes: len(plat[k]), Early: early[k], P50: percentile(plat[k], 0.5), P99: percentile(plat[k], 0.99)})
		}
	}

	// Delivery: every acknowledged updateCustomer of a followed customer,
	// sent while the subscriber was surely subscribed, must be pushed to it.
	updates := map[int][]*mutation{} // hot customer -> acknowledged updates
	for _, m := range muts {
		if m.kind == kUpdateCustomer && m.Result == cluster.Acked {
			updates[m.customer] = append(updates[m.customer], m)
		}
	}
	groups := map[string]*DeliveryStats{}
	var order []string
	var reconnect = map[string][]time.Duration{}
	for _, sb := range subsList {
		sb.mu.Lock()
		name, from := "", time.Time{}
		switch {
		case sb.group == groupRestart && sb.lostAt.IsZero():
			name, from = fmt.Sprintf("opened on restarted gateway-%d", sb.home+1), tl.restartSubs
		case sb.group == groupRestart:
			name = fmt.Sprintf("opened on restarted gateway-%d, then dropped", sb.home+1)
		case sb.home != vgw && sb.lostAt.IsZero():
			name, from = fmt.Sprintf("stayed connected to gateway-%d", sb.home+1), tl.start
		case sb.home != vgw:
			name = fmt.Sprintf("on gateway-%d, dropped though it lived", sb.home+1)
		case sb.lostAt.IsZero():
			name, from = fmt.Sprintf("on gateway-%d, never disconnected", sb.home+1), tl.start
		case !sb.backAt.IsZero():
			name, from = fmt.Sprintf("moved from gateway-%d to gateway-%d", sb.home+1, sb.gw+1), tl.moved
			reconnect[name] = append(reconnect[name], sb.backAt.Sub(sb.lostAt))
		default:
			name = fmt.Sprintf("on gateway-%d, never reconnected", sb.home+1)
		}
		g := groups[name]
		if g == nil {
			g = &DeliveryStats{Group: name}
			groups[name] = g
			order = append(order, name)
		}
		g.Subscribers++
		for _, e := range sb.errs {
			if !strings.Contains(e, "connection lost") {
				g.SubscriptionErrors++
			}
		}
		if !from.IsZero() {
			var missing []string
			for _, m := range updates[sb.customer] {
				if m.SentAt.Before(from) {
					continue
				}
				g.Expected++
				if _, ok := sb.pushes[m.n]; ok {
					g.Received++
					continue
				}
				v := versions[m.key]
				p, ok := firstShowing(sb.all, v)
				what := fmt.Sprintf("%s (version %d, sent %s through gateway-%d, answered %s; pushed around then: %s)",
					m.key, v, since(m.SentAt), m.ackGW+1, since(m.DoneAt), around(sb.all, m.DoneAt, since))
				switch {
				case ok && !p.at.After(m.DoneAt.Add(pushGrace)):
					g.Superseded++
				case ok:
					g.Late++
					g.LateMax = max(g.LateMax, p.at.Sub(m.DoneAt))
					late := fmt.Sprintf("subscriber %d (%s, customer %s): %s: first push showing version >= %d came %v after the answer (version %d, gateway-%d)",
						sb.n, name, sb.custID, what, v, p.at.Sub(m.DoneAt).Round(time.Millisecond), p.version, p.gw+1)
					if strict {
						r.PushViolations = append(r.PushViolations, "late push: "+late)
					} else {
						r.LatePushes = append(r.LatePushes, late)
					}
				default:
					missing = append(missing, what)
				}
			}
			if len(missing) > 0 {
				if len(missing) > 5 {
					missing = append(missing[:5], fmt.Sprintf("and %d more", len(missing)-5))
				}
				r.PushViolations = append(r.PushViolations, fmt.Sprintf("subscriber %d (%s, on gateway-%d, customer %s, %d pushes received): no push of %s",
					sb.n, name, sb.gw+1, sb.custID, sb.received, strings.Join(missing, ", ")))
			}
		} else {
			r.PushViolations = append(r.PushViolations, fmt.Sprintf("subscriber %d (%s): %s", sb.n, name, strings.Join(sb.errs, "; ")))
		}
		sb.mu.Unlock()
	}
	sort.Strings(order)
	for _, name := range order {
		g := groups[name]
		if d := reconnect[name]; len(d) > 0 {
			g.ReconnectP50, g.ReMax = percentile(d, 0.5), percentile(d, 1)
		}
		r.Delivery = append(r.Delivery, *g)
	}
	if len(r.PushViolations) > 20 {
		n := len(r.PushViolations)
		r.PushViolations = append(r.PushViolations[:20], fmt.Sprintf("... and %d more subscribers with push violations", n-20))
	}
}

// pushGrace is how long after a mutation's answer its push (or one
// superseding it) may come and still count as delivered.
const pushGrace = time.Second

// firstShowing returns the first of pushes showing version v or later:
// the update's effect, possibly in the row as a later commit left it (the
// read side applied several updates of the customer at once, or a later
// one committed before the gateway read the row for the earlier one's
// announcement).
func firstShowing(pushes []pushAt, v int64) (pushAt, bool) {
	if v == 0 {
		return pushAt{}, false
	}
	for _, p := range pushes {
		if p.version >= v {
			return p, true
		}
	}
	return pushAt{}, false
}

// around lists the versions pushed from 1 s before t to 2 s after it.
func around(pushes []pushAt, t time.Time, since func(time.Time) string) string {
	var parts []string
	for _, p := range pushes {
		if p.at.After(t.Add(-time.Second)) && p.at.Before(t.Add(2*time.Second)) {
			parts = append(parts, fmt.Sprintf("v%d@%s", p.version, since(p.at)))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "scale run %s: 4 area services, 3 projectors, 2 gateways; %.0f mutations/s offered by %d clients (%d per gateway, at most %d in flight each) for %v; %d customerChanged(id) subscriptions per gateway over %d customers\n",
		r.Cluster, o.Rate, 2*o.Clients, o.Clients, o.MaxInflight, o.Duration, o.Subs, o.Hot)
	fmt.Fprintf(w, "timeline: %s\n\n", r.Timeline)
	fmt.Fprintf(w, "mutations: sent %d, acknowledged %d, visible exactly once %d, duplicates %d, lost %d, refused %d, unresolved %d; retried with the same key %d, of which failed over to another gateway %d\n",
		r.Sent, r.Acked, r.Visible, r.Duplicates, r.Lost, r.Refused, r.Unresolved, r.Retried, r.FailedOver)
	fmt.Fprintf(w, "read-your-writes: %d updateCustomer answers showed the customer before their own event\n", r.StaleAnswers)
	fmt.Fprintf(w, "refusals: %s\n", r.Refusals)
	fmt.Fprintf(w, "failover: %d mutations met a transport error and were sent again through the other gateway; the last answered %v after the kill\n\n",
		r.FailedOver, r.FailoverAnswered.Round(time.Millisecond))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\twindow\tsent\tacked\tacked/s\tanswer p50\tanswer p99\tanswer max\tretried\t")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%v-%v\t%d\t%d\t%.1f\t%s\t%s\t%s\t%d\t\n", p.Name, p.From.Round(100*time.Millisecond), p.To.Round(100*time.Millisecond),
			p.Sent, p.Acked, p.AckedPerSecond, ms(p.P50), ms(p.P99), ms(p.Max), p.Retried)
	}
	tw.Flush()
	fmt.Fprintln(w, "\npush latency (push received - mutation response received; updates answered at their first attempt; phase of the mutation):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "gateway\tphase\tpushes\tbefore response\tp50\tp99\t")
	for _, l := range r.Latency {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t\n", l.Gateway, l.Phase, l.Pushes, l.Early, ms(l.P50), ms(l.P99))
	}
	tw.Flush()
	fmt.Fprintln(w, "\npushes received / expected (every acknowledged updateCustomer of the followed customer sent while the subscription was live;")
	fmt.Fprintln(w, "superseded: no push of its own, but one showing the customer at that version or later within 1 s of the answer;")
	fmt.Fprintln(w, "late: the first push showing that version or later came more than 1 s after the answer; missing: none ever did):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "subscribers\tcount\texpected\treceived\tsuperseded\tlate (max)\tmissing\tsubscription errors\treconnect p50/max\t")
	for _, d := range r.Delivery {
		rc := "-"
		if d.ReMax > 0 {
			rc = ms(d.ReconnectP50) + " / " + ms(d.ReMax)
		}
		late := "0"
		if d.Late > 0 {
			late = fmt.Sprintf("%d (%v)", d.Late, d.LateMax.Round(time.Millisecond))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%s\t\n", d.Group, d.Subscribers, d.Expected, d.Received, d.Superseded,
			late, d.Expected-d.Received-d.Superseded-d.Late, d.SubscriptionErrors, rc)
	}
	tw.Flush()
	if len(r.LatePushes) > 0 {
		fmt.Fprintf(w, "late pushes (%d; not counted as violations in this run, see docs/scale.md):\n", len(r.LatePushes))
		for i, l := range r.LatePushes {
			if i == 10 {
				fmt.Fprintf(w, "  ... and %d more\n", len(r.LatePushes)-10)
				break
			}
			fmt.Fprintf(w, "  - %s\n", l)
		}
	}
	fmt.Fprintf(w, "\nconverge: last answer %v after the load's end; read side at lag 0 %v later; last push %v after that\n",
		r.LastAnswer.Round(time.Millisecond), r.Settle.Round(time.Millisecond), r.PushQuiet.Round(time.Millisecond))
	fmt.Fprintf(w, "crm verify: %s (%v)\n", r.Verify, r.VerifyTook.Round(100*time.Millisecond))
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "violations: none")
		return
	}
	fmt.Fprintf(w, "violations (%d):\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintf(w, "  - %s\n", v)
	}
}
