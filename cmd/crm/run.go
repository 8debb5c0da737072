package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// usageError is a mistake on the command line (unknown subcommand, bad flag
// or argument): crm exits 2 for it, 1 for every other error.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode is the process status for run's result: 0, 1, or 2 for usage
// errors. --help is not an error.
func exitCode(err error) int {
	var uerr *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &uerr):
		return 2
	default:
		return 1
	}
}

// oneLine flattens err's text onto one line, so that every failure is one
// "crm: reason" line however the error was built.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// app is what every subcommand gets from run: the process's environment and
// output streams, so that tests call run with their own.
type app struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
}

// command is one subcommand of crm.
type command struct {
	name    string
	args    string // positional arguments, for the usage line
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// commands lists crm's subcommands in the order `crm --help` shows them.
var commands = []command{
	{"dev", "", "gateway, the four write services with their relays, and the projector, in one process", cmdDev},
	{"gateway", "", "the GraphQL gateway alone", cmdGateway},
	{"service", "AREA", "one write service (customers, appointments, relationships, campaigns) with its relay", cmdService},
	{"projector", "", "projector workers; several may run at once", cmdProjector},
	{"migrate", "", "apply the migrations of every component's database", cmdMigrate},
	{"projections", "rebuild NAME", "rebuild one read model from the event logs while the old one serves", cmdProjections},
	{"seed", "", "write demo data through the public GraphQL mutations", cmdSeed},
	{"verify", "[NAME...]", "rebuild read models and replicas into scratch tables and compare them with the live ones", cmdVerify},
}

// run is crm without the process around it: args exclude the program name,
// getenv reads the environment. A nil result or flag.ErrHelp means success;
// a *usageError means a command-line mistake.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	a := &app{
		getenv: getenv,
		stdout: stdout,
		stderr: stderr,
		logger: slog.New(slog.NewTextHandler(stderr, nil)),
	}
	if len(args) > 0 && (args[0] == "gateway" || args[0] == "dev") {
		tuneGC(getenv)
	}
	if len(args) == 0 {
		printUsage(stderr)
		return usagef("missing subcommand (see crm --help)")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, a, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return usagef("unknown subcommand %q (see crm --help)", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: crm SUBCOMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Subcommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-26s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each takes --help. Configuration comes from the environment:")
	fmt.Fprintln(w, "  CRM_HTTP_ADDR, CRM_DATABASE_URL, CRM_<AREA>_DATABASE_URL, CRM_READ_DATABASE_URL,")
	fmt.Fprintln(w, "  CRM_REDIS_URL, CRM_NAMESPACE, CRM_<AREA>_URL, CRM_SERVICE_ADDR, CRM_DB_MAX_CONNS")
	fmt.Fprintln(w, "  CRM_SERVICE_KEY (required but for dev: the key services, gateways and projectors share)")
	fmt.Fprintln(w, "  CRM_AUTH_ISSUER (required by gateway), CRM_AUTH_AUDIENCE, CRM_AUTH_KEYS_FILE, CRM_AUTH_ROLE_CLAIM,")
	fmt.Fprintln(w, "  CRM_AUTH_SALESPERSON_CLAIM, CRM_AUTH_CLIENT_ID, CRM_ALLOWED_HOSTS, CRM_GRAPHIQL, CRM_INTROSPECTION, CRM_METRICS,")
	fmt.Fprintln(w, "  CRM_METRICS_ADDR, CRM_RATE_MUTATIONS, CRM_RATE_QUERY_POINTS, CRM_MAX_SOCKETS_PER_USER,")
	fmt.Fprintln(w, "  CRM_MAX_SUBSCRIPTIONS_PER_USER (docs/auth.md)")
	fmt.Fprintln(w, "(see README.md and shared/contract/CONTRACT.md for meanings and defaults).")
}

// flagSet returns an empty flag set for a subcommand; parse fills it.
func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("crm "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args into fs, allowing at most wantArgs positional arguments
// (-1: any). On --help it prints the subcommand's help to stdout and
// returns flag.ErrHelp; a bad flag is a one-line usage error.
func (a *app) parse(fs *flag.FlagSet, synopsis, about string, args []string, wantArgs int) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		var b bytes.Buffer
		fmt.Fprintf(&b, "Usage: %s\n\n%s\n", strings.TrimSpace(fs.Name()+" [flags] "+synopsis), about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(&b, "\nFlags:")
			fs.SetOutput(&b)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		fmt.Fprintln(&b, "\nConfiguration: environment variables, see crm --help.")
		_, _ = a.stdout.Write(b.Bytes())
		return flag.ErrHelp
	}
	// main prefixes every reason with "crm: ".
	sub := strings.TrimPrefix(fs.Name(), "crm ")
	if err != nil {
		return usagef("%s: %v (see %s --help)", sub, err, fs.Name())
	}
	if wantArgs >= 0 && fs.NArg() > wantArgs {
		return usagef("%s: unexpected argument %q (see %s --help)", sub, fs.Arg(wantArgs), fs.Name())
	}
	return nil
}

// loadConfig reads the environment, lets apply override settings from
// flags, and validates the result.
func (a *app) loadConfig(apply func(*Config)) (Config, error) {
	cfg := configFromEnv(a.getenv)
	if apply != nil {
		apply(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
