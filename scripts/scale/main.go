// Command scale is the scale-out run (`make scale`, docs/scale.md): the
// CRM as separate processes (4 area services, 3 projector workers, 2
// gateways; scripts/cluster), a steady load of mixed mutations through
// both gateways, customerChanged subscriptions on both, and one projector
// and one gateway killed with SIGKILL mid-run. The load's clients fail
// over to the surviving gateway (retrying with the same idempotencyKey),
// the subscribers reconnect to it. It reports throughput per phase, push
// latency per gateway and pushes received against expected, and checks
// that every acknowledged mutation is in the read models and its area's
// log exactly once and that `crm verify` passes. It exits 1 on any
// violation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"crm/scripts/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], Full, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// run parses the flags, whose defaults are o, builds the binary (unless
// -bin), starts the cluster, runs the scenario and prints the report.
func run(ctx context.Context, args []string, o Options, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long the load runs (kills at 1/4, restarts at 3/4)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "mutations per second offered, over all clients")
	fs.IntVar(&o.Clients, "clients", o.Clients, "load clients per gateway")
	fs.IntVar(&o.MaxInflight, "inflight", o.MaxInflight, "mutations awaiting an answer per client, at most")
	fs.IntVar(&o.Subs, "subs", o.Subs, "customerChanged subscriptions per gateway")
	fs.IntVar(&o.Hot, "customers", o.Hot, "customers the updates and subscriptions spread over")
	fs.BoolVar(&o.Restart, "restart", o.Restart, "start the killed projector and gateway again at 3/4 of the run")
	fs.DurationVar(&o.RetryWindow, "retry-window", o.RetryWindow, "how long a client retries a mutation with an open answer")
	fs.BoolVar(&o.StrictPushes, "strict-pushes", o.StrictPushes, "fail on late pushes (an update's state pushed only with a later change)")
	bin := fs.String("bin", "", "a prebuilt crm binary (default: build ./cmd/crm)")
	keep := fs.Bool("keep", false, "keep the databases and logs of a failed run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Duration < 8*time.Second || o.Rate <= 0 || o.Clients < 1 || o.MaxInflight < 1 || o.Subs < 1 || o.Hot < 1 {
		return errors.New("need -duration >= 8s and positive -rate, -clients, -inflight, -subs, -customers")
	}
	logger := log.New(stderr, "", log.Ltime|log.Lmicroseconds)
	o.Logf = logger.Printf

	dir, err := os.MkdirTemp("", "crm-scale-")
	if err != nil {
		return err
	}
	failed := true
	defer func() {
		if failed && *keep {
			logger.Printf("logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	if *bin == "" {
		start := time.Now()
		if *bin, err = cluster.Build(ctx, dir); err != nil {
			return err
		}
		logger.Printf("built crm in %v", time.Since(start).Round(100*time.Millisecond))
	}
	cfg := Cluster(*bin, dir)
	cfg.KeepDatabases = *keep
	start := time.Now()
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		return err
	}
	logger.Printf("cluster %s started in %v (logs in %s)", c.ID, time.Since(start).Round(100*time.Millisecond), dir)
	defer func() {
		if err := c.Close(); err != nil {
			logger.Printf("cluster close: %v", err)
		}
	}()
	start = time.Now()
	rep, err := Run(ctx, c, o)
	if rep != nil && rep.Sent > 0 {
		fmt.Fprintln(stdout)
		rep.Print(stdout)
		fmt.Fprintf(stdout, "run took %v (cluster start not included)\n", time.Since(start).Round(time.Second))
	}
	if conns, cerr := c.Connections(context.Background()); cerr == nil {
		logger.Printf("PostgreSQL sessions at the end: %v", conns)
	}
	if err != nil {
		for _, p := range c.Processes() {
			logger.Printf("%s log ends:\n%s", p.Name, p.Tail(2000))
		}
		if rep != nil && len(rep.Violations) > 0 {
			return fmt.Errorf("%d violations (see the report)", len(rep.Violations))
		}
		return err
	}
	failed = false
	return nil
}
