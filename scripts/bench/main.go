// Command bench measures the system's throughput beside raw baselines taken
// in the same run, on this machine, and writes the table to
// docs/benchmarks.md. It is what `make bench` runs; it is not a test.
//
// It uses its own database (created and dropped) and its own Redis
// namespace (deleted at the end) on the configured servers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	adminURL string
	redisURL string
	duration time.Duration
	relayN   int
	out      string
	// gateway runs the gateway section against the real binary.
	gateway   bool
	gwSubs    int
	gwMaxSubs int
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.adminURL, "admin-url", envOr("CRM_BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL maintenance database URL")
	fs.StringVar(&o.redisURL, "redis-url", envOr("CRM_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each throughput measurement")
	fs.IntVar(&o.relayN, "relay-events", 200000, "events the relay measurement carries")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file to write (empty: stdout only)")
	fs.BoolVar(&o.gateway, "gateway", true, "measure the gateway (builds and runs crm dev and crm gateway)")
	fs.IntVar(&o.gwSubs, "gateway-subs", 1000, "subscriptions during the push-latency measurement")
	fs.IntVar(&o.gwMaxSubs, "gateway-max-subs", 10000, "subscriptions for the largest memory measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := newEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()

	var rep report
	if err := benchAppends(ctx, o, env, &rep); err != nil {
		return err
	}
	if err := benchRelay(ctx, o, env, &rep); err != nil {
		return err
	}
	if o.gateway {
		if err := benchGateway(ctx, o, env, &rep); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	md := rep.markdown(o)
	fmt.Fprint(stdout, md)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md), 0o644)
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// report collects rows of "measured vs baseline" tables.
type report struct {
	sections []section
}

type section struct {
	title, note string
	header      []string
	rows        [][]string
}

func (r *report) add(s section) { r.sections = append(r.sections, s) }

func (r report) markdown(o options) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Benchmarks\n\nProduced by `make bench` (`go run ./scripts/bench`) on %s, %s, %d s per measurement.\n",
		host, time.Now().UTC().Format("2006-01-02 15:04 MST"), int(o.duration.Seconds()))
	fmt.Fprintf(&b, "Machine: %s. Every ratio compares with a raw baseline measured in the same run.\n", machine())
	for _, s := range r.sections {
		fmt.Fprintf(&b, "\n## %s\n\n", s.title)
		if s.note != "" {
			fmt.Fprintf(&b, "%s\n\n", s.note)
		}
		fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(s.header, " | "), strings.Repeat(" --- |", len(s.header)))
		for _, row := range s.rows {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		}
	}
	return b.String()
}

func machine() string {
	cpus := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n := strings.Count(string(b), "\nprocessor")
		if strings.HasPrefix(string(b), "processor") {
			n++
		}
		cpus = fmt.Sprint(n)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpus += " × " + strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return cpus
}

func rate(n int64, d time.Duration) string { return fmt.Sprintf("%.0f/s", float64(n)/d.Seconds()) }

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
