package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/verify"
	"crm/projector"
	"crm/services/appointments"
	"crm/services/campaigns"
	"crm/services/kit"
	"crm/services/relationships"
)

// replicaDef is one area's replica of another area, as the area's Open
// builds it (services/<area>/app.go): the same source and Mapper, so that
// verify replays it with the live handler's code.
type replicaDef struct {
	area, source string
	mapper       kit.Mapper
}

// replicaDefs lists every area replica, from the areas' own lists.
func replicaDefs() []replicaDef {
	var defs []replicaDef
	for _, a := range []struct {
		area     string
		replicas map[string]kit.Mapper
	}{{appointments.Area, appointments.Replicas}, {relationships.Area, relationships.Replicas}, {campaigns.Area, campaigns.Replicas}} {
		for _, source := range slices.Sorted(maps.Keys(a.replicas)) {
			defs = append(defs, replicaDef{a.area, source, a.replicas[source]})
		}
	}
	return defs
}

// verifyTarget is one model crm verify checks: a read model or a replica.
type verifyTarget struct {
	label   string // read.<name> or <area>.<source>
	proj    projector.Projection
	replica replicaDef
}

// verifyTargets is every model, read models first.
func verifyTargets() []verifyTarget {
	var ts []verifyTarget
	for _, p := range projector.All() {
		ts = append(ts, verifyTarget{label: projector.VerifyLabel(p.Name()), proj: p})
	}
	for _, r := range replicaDefs() {
		ts = append(ts, verifyTarget{label: kit.ReplicaLabel(r.area, r.source), replica: r})
	}
	return ts
}

// selectTargets picks the targets names select: "read" (every read
// model), "replicas" (every replica), a label ("read.customers",
// "appointments.customers"), or a bare name, which selects the read model
// and the area's replicas of that name. No names: everything.
func selectTargets(names []string) ([]verifyTarget, error) {
	all := verifyTargets()
	if len(names) == 0 {
		return all, nil
	}
	var out []verifyTarget
	for _, n := range names {
		found := false
		for _, t := range all {
			area, _, _ := strings.Cut(t.label, ".")
			match := n == t.label || (n == "read" && t.proj != nil) || (n == "replicas" && t.proj == nil) ||
				(t.proj != nil && n == t.proj.Name()) || (t.proj == nil && n == area)
			if !match {
				continue
			}
			found = true
			if !slices.ContainsFunc(out, func(o verifyTarget) bool { return o.label == t.label }) {
				out = append(out, t)
			}
		}
		if !found {
			var labels []string
			for _, t := range all {
				labels = append(labels, t.label)
			}
			return nil, usagef("verify: unknown read model or area %q (want read, replicas, an area, a read model or one of %s)",
				n, strings.Join(labels, ", "))
		}
	}
	return out, nil
}

func cmdVerify(ctx context.Context, a *app, args []string) error {
	fs := flagSet("verify")
	maxRows := fs.Int("max-rows", 20, "differing rows printed per table")
	partitions := fs.Int("partitions", 8, "partitions of every area's log (must equal the relays')")
	if err := a.parse(fs, "[NAME...]", "Rebuild each read model and each area's replica from the areas' event logs\n"+
		"into scratch tables and compare them row by row with the live ones, at the\n"+
		"cut the live consumers had reached (parked events left out; see docs/verify.md).\n"+
		"Prints one line per model and the differing rows; exits 1 when any differs.\n"+
		"Scratch tables are dropped afterwards. Nothing live is written.\n\n"+
		"NAME selects what to verify (default everything): read, replicas, a read model\n"+
		"(customers, salespeople, appointments, campaigns, events), an area (its replicas),\n"+
		"or one label such as read.customers or appointments.customers.", args, -1); err != nil {
		return err
	}
	if *maxRows < 1 {
		return usagef("verify: --max-rows must be at least 1")
	}
	if *partitions < 1 {
		return usagef("verify: --partitions must be at least 1")
	}
	targets, err := selectTargets(fs.Args())
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig(nil)
	if err != nil {
		return err
	}
	err = runVerify(ctx, a, cfg, targets, *maxRows, *partitions)
	if ctx.Err() != nil {
		return errors.New("verify: interrupted")
	}
	return err
}

// runVerify verifies targets one after the other, printing each result.
func runVerify(ctx context.Context, a *app, cfg Config, targets []verifyTarget, maxRows, partitions int) error {
	// A small pool on each existing database: verify creates none.
	pools := newPoolSet(cfg.DatabaseURLs, func(u string) (*pgxpool.Pool, error) {
		return connectPool(ctx, u, verifySize(cfg, u), "crm-verify")
	})
	defer pools.close()
	pool := pools.get
	// The areas' logs are read straight from their databases: verify needs
	// no running service.
	logs := map[string]*eventlog.Log{}
	defer func() {
		for _, l := range logs {
			l.Close()
		}
	}()
	source := func(area string) (consumer.LogSource, error) {
		if l, ok := logs[area]; ok {
			return l, nil
		}
		p, err := pool(area)
		if err != nil {
			return nil, err
		}
		l, err := eventlog.Open(ctx, eventlog.Config{Pool: p, Schema: area, Logger: a.logger})
		if err != nil {
			return nil, err
		}
		logs[area] = l
		return l, nil
	}

	var differ []string
	for _, t := range targets {
		var res verify.Result
		var err error
		if t.proj != nil {
			res, err = verifyProjection(ctx, a, t.proj, pool, source, maxRows, partitions)
		} else {
			res, err = verifyReplica(ctx, a, t.replica, pool, source, maxRows, partitions)
		}
		if err != nil {
			return fmt.Errorf("verify %s: %w", t.label, err)
		}
		printVerifyResult(a.stdout, res, maxRows)
		if !res.Equal() {
			differ = append(differ, t.label)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("verify: %d of %d differ from their replay: %s", len(differ), len(targets), strings.Join(differ, ", "))
	}
	return nil
}

func verifyProjection(ctx context.Context, a *app, p projector.Projection, pool func(string) (*pgxpool.Pool, error),
	source func(string) (consumer.LogSource, error), maxRows, partitions int) (verify.Result, error) {
	rp, err := pool(readComponent)
	if err != nil {
		return verify.Result{}, err
	}
	sources := map[string]consumer.LogSource{}
	for _, area := range p.Sources() {
		if sources[area], err = source(area); err != nil {
			return verify.Result{}, err
		}
	}
	return projector.Verify(ctx, projector.VerifyConfig{Pool: rp, Schema: readComponent, Projection: p,
		Sources: sources, Partitions: partitions, MaxRows: maxRows, Logger: a.logger})
}

func verifyReplica(ctx context.Context, a *app, r replicaDef, pool func(string) (*pgxpool.Pool, error),
	source func(string) (consumer.LogSource, error), maxRows, partitions int) (verify.Result, error) {
	ap, err := pool(r.area)
	if err != nil {
		return verify.Result{}, err
	}
	src, err := source(r.source)
	if err != nil {
		return verify.Result{}, err
	}
	return kit.VerifyReplica(ctx, kit.ReplicaVerifyConfig{Pool: ap, Schema: r.area, Source: r.source, Log: src,
		Mapper: r.mapper, Partitions: partitions, MaxRows: maxRows, Logger: a.logger})
}

// printVerifyResult prints one line for the model, then its differing rows
// and the events only the replay failed on, indented.
func printVerifyResult(w io.Writer, res verify.Result, maxRows int) {
	var cut []string
	for area, pos := range res.Cut {
		cut = append(cut, fmt.Sprintf("%s@%d", area, pos))
	}
	slices.Sort(cut)
	summary := fmt.Sprintf("%d rows, %d events replayed (%d caught up), cut %s, %d parked left out, %s",
		res.Rows(), res.Replayed, res.CaughtUp, strings.Join(cut, " "), len(res.Parked), res.Duration.Round(1e6))
	if res.Equal() {
		fmt.Fprintf(w, "%s: ok (%s)\n", res.Label, summary)
		return
	}
	fmt.Fprintf(w, "%s: DIFFERS (%s)\n", res.Label, summary)
	for _, t := range res.Tables {
		if t.Differing == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s: %d differing rows (live %d rows, rebuilt %d)\n", t.Table, t.Differing, t.LiveRows, t.RebuiltRows)
		for _, d := range t.Diffs {
			fmt.Fprintf(w, "    %s\n", d)
		}
		if int64(len(t.Diffs)) < t.Differing {
			fmt.Fprintf(w, "    ... %d more (--max-rows %d)\n", t.Differing-int64(len(t.Diffs)), maxRows)
		}
	}
	for _, f := range res.Failed {
		fmt.Fprintf(w, "  event %s: fails in the replay, but the live consumer applied it\n", oneLine(errors.New(f)))
	}
}
