package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"crm/scripts/cluster"
)

// Options size a run.
type Options struct {
	// Duration is how long the load runs. The projector and the gateway
	// are killed a quarter of the way in and, with Restart, started again
	// three quarters of the way in (the lease of a dead projector's
	// partitions expires after 10 s: the window between must be longer).
	Duration time.Duration
	// Rate is the total mutations per second offered, spread over every
	// client; Clients is the number of clients per gateway.
	Rate    float64
	Clients int
	// MaxInflight caps each client's mutations awaiting an answer.
	MaxInflight int
	// Subs is the number of customerChanged(id) subscriptions per gateway,
	// spread over Hot customers, which the load's updates target.
	Subs, Hot int
	// Restart starts the killed projector and gateway again.
	Restart bool
	// RetryWindow bounds how long a client retries an open answer.
	RetryWindow time.Duration
	// StrictPushes fails the run on a late push: an update whose state no
	// push showed within a second of its answer, only a later change's
	// push (see docs/scale.md). Without it late pushes are only reported;
	// a push that never came fails every run.
	StrictPushes bool
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// Full is `make scale`; Short is the test's reduced run.
var (
	Full  = Options{Duration: 90 * time.Second, Rate: 40, Clients: 4, MaxInflight: 16, Subs: 200, Hot: 40, Restart: true, RetryWindow: 90 * time.Second, StrictPushes: true}
	Short = Options{Duration: 36 * time.Second, Rate: 12, Clients: 2, MaxInflight: 8, Subs: 40, Hot: 8, Restart: true, RetryWindow: 60 * time.Second}
)

// Cluster is the shape of the cluster a run needs: one service per area,
// three projectors, two gateways.
func Cluster(bin, dir string) cluster.Config {
	return cluster.Config{Bin: bin, Dir: dir, Prefix: "crm_scale", ServicesPerArea: 1, Projectors: 3, Gateways: 2}
}

// timeline is when the run's events happened.
type timeline struct {
	start, kill, moved, restart, restartSubs, end, loadDone time.Time
}

// Run runs the scale scenario against c (started with Cluster's shape)
// and returns its report; the error lists every violation found.
func Run(ctx context.Context, c *cluster.Cluster, o Options) (*Report, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if len(c.Gateways) < 2 || len(c.Projectors) < 2 {
		return nil, fmt.Errorf("need at least 2 gateways and 2 projectors, have %d and %d", len(c.Gateways), len(c.Projectors))
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	l := newLoad(hex.EncodeToString(b[:]), o.RetryWindow, c.Gateways, o.Clients)
	rep := &Report{Options: o, Cluster: c.ID}
	gql1 := cluster.NewGQLClient(c.Gateways[0], 10*time.Second)
	if _, err := cluster.Settled(ctx, gql1, 2*time.Minute); err != nil {
		return rep, err
	}
	if err := l.setup(ctx, o.Hot); err != nil {
		return rep, err
	}
	if _, err := cluster.Settled(ctx, gql1, 2*time.Minute); err != nil {
		return rep, err
	}
	o.Logf("setup: %d hot customers, %d salespeople", o.Hot, len(l.clients))

	ss := newSubs(ctx, c.Gateways, l.prefix(), &l.fix)
	defer ss.close()
	for gw, g := range c.Gateways {
		if err := ss.open(gw, o.Subs, "initial"); err != nil {
			return rep, fmt.Errorf("open subscriptions on gateway-%d: %w", gw+1, err)
		}
		if _, err := waitSubscriptions(ctx, g, o.Subs, time.Minute); err != nil {
			return rep, err
		}
	}
	o.Logf("%d subscriptions open on each of %d gateways", o.Subs, len(c.Gateways))

	victimGW, victimProj := c.Gateways[len(c.Gateways)-1], c.Projectors[len(c.Projectors)-1]
	vgw := len(c.Gateways) - 1
	var tl timeline
	tl.start = time.Now()
	tl.end = tl.start.Add(o.Duration)
	loadCtx, stopHome := context.WithCancel(ctx)
	defer stopHome()
	if o.Restart {
		go l.goHome(loadCtx)
	}
	stop := make(chan struct{})
	faultErr := make(chan error, 1)
	go func() {
		faultErr <- faults(ctx, c, o, ss, victimGW, vgw, victimProj, &tl)
	}()
	time.AfterFunc(o.Duration, func() { close(stop) })
	o.Logf("load: %.0f mutations/s through %d clients on %d gateways for %v", o.Rate, len(l.clients), len(c.Gateways), o.Duration)
	l.drive(ctx, stop, o.Rate, o.MaxInflight)
	tl.loadDone = time.Now()
	stopHome()
	var violations []string
	if err := <-faultErr; err != nil {
		violations = append(violations, "fault: "+err.Error())
	}
	o.Logf("load done: %d mutations, all answered %v after the end", l.count.Load(), tl.loadDone.Sub(tl.end).Round(time.Millisecond))

	// Converge: the read side at lag 0, then the pushes quiet.
	settle, err := cluster.Settled(ctx, gql1, 3*time.Minute)
	rep.Settle = settle
	if err != nil {
		violations = append(violations, err.Error())
	}
	rep.PushQuiet = pushesQuiet(ss, 2*time.Second, 30*time.Second)
	ss.reconnect.Store(false)

	ch, err := newChecker(ctx, c)
	if err != nil {
		return rep, err
	}
	defer ch.Close()
	muts := l.all()
	st, err := ch.state(ctx, l.prefix())
	if err != nil {
		return rep, err
	}
	violations = append(violations, ch.judge(ctx, st, muts, rep)...)
	rep.Refusals = refusalCodes(muts)
	rep.Verify, rep.VerifyTook, err = c.Verify(ctx)
	if err != nil {
		violations = append(violations, err.Error())
	}
	for _, p := range c.Processes() {
		if !o.Restart && (p == victimProj || p == victimGW.Proc) {
			continue
		}
		if err, ok := p.Exited(); ok {
			violations = append(violations, fmt.Sprintf("%s exited (%v); log ends:\n%s", p.Name, err, p.Tail(1500)))
		}
	}
	rep.fill(muts, st.versions, ss.snapshot(), tl, vgw, len(c.Gateways), o.StrictPushes)
	violations = append(violations, rep.PushViolations...)
	rep.Violations = violations
	if len(violations) > 0 {
		errs := make([]error, len(violations))
		for i, v := range violations {
			errs[i] = errors.New(v)
		}
		return rep, errors.Join(errs...)
	}
	return rep, nil
}

// faults kills the last projector and the last gateway a quarter of the
// way into the load, waits until the killed gateway's subscribers are live
// on the survivor and, with o.Restart, starts both again three quarters of
// the way in and opens fresh subscriptions on the restarted gateway.
func faults(ctx context.Context, c *cluster.Cluster, o Options, ss *subs, g *cluster.Gateway, vgw int, p *cluster.Proc, tl *timeline) error {
	sleepUntil := func(t time.Time) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(t)):
			return true
		}
	}
	if !sleepUntil(tl.start.Add(o.Duration / 4)) {
		return ctx.Err()
	}
	tl.kill = time.Now()
	p.Kill()
	g.Kill()
	o.Logf("kill -9 %s (pid gone) and %s", p.Name, g.Name)
	// Every subscription of the cluster now lives on the survivors.
	var errs []error
	want := len(c.Gateways) * o.Subs
	if len(c.Gateways) == 2 {
		at, err := waitSubscriptions(ctx, c.Gateways[0], want, time.Minute)
		if err != nil {
			errs = append(errs, fmt.Errorf("subscribers of %s not all back: %w", g.Name, err))
		}
		tl.moved = at
		o.Logf("subscribers of %s live on gateway-1 %v after the kill", g.Name, at.Sub(tl.kill).Round(time.Millisecond))
	}
	if !o.Restart {
		return errors.Join(errs...)
	}
	if !sleepUntil(tl.start.Add(3 * o.Duration / 4)) {
		return ctx.Err()
	}
	tl.restart = time.Now()
	if err := c.StartProjector(p); err != nil {
		return errors.Join(append(errs, fmt.Errorf("restart %s: %w", p.Name, err))...)
	}
	if err := c.StartGateway(g); err != nil {
		return errors.Join(append(errs, fmt.Errorf("restart %s: %w", g.Name, err))...)
	}
	o.Logf("%s and %s started again in %v", p.Name, g.Name, time.Since(tl.restart).Round(time.Millisecond))
	if err := ss.open(vgw, o.Subs, groupRestart); err != nil {
		return errors.Join(append(errs, fmt.Errorf("subscribe on restarted %s: %w", g.Name, err))...)
	}
	at, err := waitSubscriptions(ctx, g, o.Subs, time.Minute)
	if err != nil {
		errs = append(errs, err)
	}
	tl.restartSubs = at
	return errors.Join(errs...)
}

// pushesQuiet waits until no push has arrived for quiet (at most within)
// and returns how long it waited.
func pushesQuiet(ss *subs, quiet, within time.Duration) time.Duration {
	count := func() int {
		n := 0
		for _, sb := range ss.snapshot() {
			sb.mu.Lock()
			n += sb.received
			sb.mu.Unlock()
		}
		return n
	}
	start := time.Now()
	last, lastChange := count(), time.Now()
	for time.Since(lastChange) < quiet && time.Since(start) < within {
		time.Sleep(100 * time.Millisecond)
		if n := count(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	return lastChange.Sub(start)
}

// refusalCodes summarizes the refused mutations by field and code.
func refusalCodes(ms []*mutation) string {
	n := map[string]int{}
	for _, m := range ms {
		if m.Result == cluster.Refused {
			n[m.kind.field+"/"+m.Code+" ("+m.LastErr+")"]++
		}
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
