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
	"slices"
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
	// idle is how long the gateway section counts what crm dev does with
	// no traffic.
	idle time.Duration
	// only, when not empty, lists the sections to run.
	only string
	// rebuildN and rebuildSmall are the log sizes (events over the four
	// areas) the rebuild section rebuilds from.
	rebuildN, rebuildSmall int64
	// catchupN is how many events the catch-up section's processes start
	// behind; catchupWindow bounds the projector's run.
	catchupN      int
	catchupWindow time.Duration
	// logDir, when set, keeps the crm processes' logs of the rebuild and
	// catch-up sections there.
	logDir string
}

// sections are the names -only accepts, in the order they run.
var sections = []string{"appends", "relay", "gateway", "feed", "rebuild", "catchup"}

// runs reports whether section name is selected.
func (o options) runs(name string) bool {
	if o.only == "" {
		return true
	}
	return slices.Contains(strings.Split(o.only, ","), name)
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
	fs.DurationVar(&o.idle, "idle", 10*time.Second, "how long the gateway section counts crm dev's calls with no traffic")
	fs.StringVar(&o.only, "only", "", "comma-separated sections to run (default all): "+strings.Join(sections, ","))
	fs.Int64Var(&o.rebuildN, "rebuild-events", 1000000, "events in the logs for the largest rebuild")
	fs.Int64Var(&o.rebuildSmall, "rebuild-small", 100000, "events in the logs for the first, smaller rebuild (0: none)")
	fs.IntVar(&o.catchupN, "catchup-events", 1000000, "events behind for the catch-up section")
	fs.DurationVar(&o.catchupWindow, "catchup-window", 60*time.Second, "longest run of the projector in the catch-up section")
	fs.StringVar(&o.logDir, "logs", "", "directory to keep the rebuild and catch-up sections' crm process logs in (default: dropped)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, name := range strings.Split(o.only, ",") {
		if name != "" && !slices.Contains(sections, name) {
			return fmt.Errorf("-only: unknown section %q (want %s)", name, strings.Join(sections, ","))
		}
	}
	env, err := newEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()

	var rep report
	if o.runs("appends") {
		if err := benchAppends(ctx, o, env, &rep); err != nil {
			return err
		}
	}
	if o.runs("relay") {
		if err := benchRelay(ctx, o, env, &rep); err != nil {
			return err
		}
	}
	if o.gateway && o.runs("gateway") {
		if err := benchGateway(ctx, o, env, &rep); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	if o.gateway && o.runs("feed") {
		if err := benchFeed(ctx, o, env, &rep); err != nil {
			return fmt.Errorf("feed: %w", err)
		}
	}
	if o.runs("rebuild") {
		if err := benchRebuild(ctx, o, env, &rep); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	if o.runs("catchup") {
		if err := benchCatchUp(ctx, o, env, &rep); err != nil {
			return fmt.Errorf("catch-up: %w", err)
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
	fmt.Fprintf(&b, "Sections run alone with `-only` (%s), e.g. `go run ./scripts/bench -only rebuild -rebuild-events 100000 -out ''`; `-h` lists the size flags.\n",
		strings.Join(sections, ", "))
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
