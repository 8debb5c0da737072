package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
)

// TestMain lets a test run this binary as crm itself (main, real exit code)
// by setting CRM_TEST_RUN_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("CRM_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// crm runs the real main with args and env (nothing else inherited but
// PATH), returning its exit code, stdout and stderr.
func crm(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append([]string{"CRM_TEST_RUN_MAIN=1", "PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run crm %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func envFunc(kv ...string) func(string) string {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	cases := [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"dev", "--help"}, {"gateway", "--help"}, {"service", "--help"}, {"service", "-h", "customers"},
		{"projector", "--help"}, {"migrate", "--help"}, {"projections", "--help"},
		{"projections", "rebuild", "--help"}, {"seed", "--help"},
	}
	for _, args := range cases {
		var out, errb bytes.Buffer
		// A bad configuration must not stand in the way of --help.
		err := run(context.Background(), args, envFunc("CRM_REDIS_URL=://"), &out, &errb)
		if code := exitCode(err); code != 0 {
			t.Errorf("crm %v: exit %d, err %v", args, code, err)
		}
		if !strings.HasPrefix(out.String(), "Usage: crm") {
			t.Errorf("crm %v: stdout %q, want usage", args, out.String())
		}
	}
	code, out, _ := crm(t, nil, "--help")
	if code != 0 {
		t.Fatalf("crm --help: exit %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name) {
			t.Errorf("crm --help does not list %s:\n%s", c.name, out)
		}
	}
}

// TestErrorsAreOneLine runs the real binary: bad configuration exits 1 and
// usage mistakes exit 2, each with one "crm: reason" line on stderr.
func TestErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env      []string
		args     []string
		code     int
		contains string
	}{
		{[]string{"CRM_REDIS_URL=://"}, []string{"migrate"}, 1, "CRM_REDIS_URL"},
		{[]string{"CRM_DATABASE_URL=mysql://x@h/db"}, []string{"projector"}, 1, "CRM_DATABASE_URL"},
		{[]string{"CRM_CUSTOMERS_DATABASE_URL=postgres://u:secret@h:notaport/db"}, []string{"migrate"}, 1, "CRM_CUSTOMERS_DATABASE_URL"},
		{[]string{"CRM_HTTP_ADDR=8080"}, []string{"gateway"}, 1, "CRM_HTTP_ADDR"},
		{[]string{"CRM_SERVICE_ADDR=localhost:99999"}, []string{"service", "customers"}, 1, "CRM_SERVICE_ADDR"},
		{[]string{"CRM_NAMESPACE=a b"}, []string{"dev"}, 1, "CRM_NAMESPACE"},
		{[]string{"CRM_CAMPAIGNS_URL=ftp://x"}, []string{"seed"}, 1, "CRM_CAMPAIGNS_URL"},
		{[]string{"CRM_DB_MAX_CONNS=0"}, []string{"projector"}, 1, "CRM_DB_MAX_CONNS"},
		{[]string{"CRM_DB_MAX_CONNS=many"}, []string{"gateway"}, 1, "CRM_DB_MAX_CONNS"},
		{nil, []string{"service", "billing"}, 2, "unknown area"},
		{nil, []string{"service"}, 2, "AREA"},
		{nil, []string{"bogus"}, 2, "unknown subcommand"},
		{nil, []string{"dev", "--nope"}, 2, "-nope"},
		{nil, []string{"projections", "rebuild"}, 2, "NAME"},
		{[]string{"CRM_DATABASE_URL=postgres://postgres@127.0.0.1:1/crm?sslmode=disable"}, []string{"dev"}, 1, "connect"},
		{[]string{"CRM_DATABASE_URL=postgres://postgres@127.0.0.1:1/crm?sslmode=disable", "CRM_SERVICE_KEY=" + svcauth.NewSecret()}, []string{"gateway"}, 1, "connect"},
		// The separate processes need the shared service key; crm dev draws one.
		{nil, []string{"gateway"}, 1, "CRM_SERVICE_KEY is required"},
		{nil, []string{"service", "customers"}, 1, "CRM_SERVICE_KEY is required"},
		{nil, []string{"projector"}, 1, "CRM_SERVICE_KEY is required"},
		{nil, []string{"projections", "rebuild", "customers"}, 1, "CRM_SERVICE_KEY is required"},
		{[]string{"CRM_SERVICE_KEY=secret-but-short"}, []string{"service", "customers"}, 1, "CRM_SERVICE_KEY"},
		{[]string{"CRM_SERVICE_KEY=" + base64.StdEncoding.EncodeToString([]byte("secret, but 31 bytes long......"))}, []string{"projector"}, 1, "at least 32"},
	}
	for _, tc := range cases {
		code, _, stderr := crm(t, tc.env, tc.args...)
		if code != tc.code {
			t.Errorf("%v crm %v: exit %d, want %d (stderr %q)", tc.env, tc.args, code, tc.code, stderr)
		}
		if !strings.HasPrefix(stderr, "crm: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.contains) {
			t.Errorf("%v crm %v: stderr %q, want one line \"crm: ...%s...\"", tc.env, tc.args, stderr, tc.contains)
		}
		if strings.Contains(stderr, "secret") {
			t.Errorf("crm %v: stderr repeats a password: %q", tc.args, stderr)
		}
	}
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	cfg := configFromEnv(envFunc())
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if cfg.HTTPAddr != defaultHTTPAddr || cfg.RedisURL != defaultRedisURL || cfg.Namespace != "crm" {
		t.Errorf("defaults: %+v", cfg)
	}
	for _, comp := range append(append([]string{}, areas...), readComponent) {
		if cfg.DatabaseURLs[comp] != defaultDatabaseURL {
			t.Errorf("%s database %q, want the default", comp, cfg.DatabaseURLs[comp])
		}
	}
	cfg = configFromEnv(envFunc(
		"CRM_DATABASE_URL=postgres://a@127.0.0.1/one",
		"CRM_APPOINTMENTS_DATABASE_URL=postgres://a@127.0.0.1/two",
		"CRM_READ_DATABASE_URL=postgres://a@127.0.0.1/three",
		"CRM_SERVICE_ADDR=127.0.0.1:0",
		"CRM_CUSTOMERS_URL=http://10.0.0.1:9000",
		"CRM_DB_MAX_CONNS=3",
	))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.poolSize(16) != 3 || configFromEnv(envFunc()).poolSize(16) != 16 {
		t.Errorf("pool sizes: %d with CRM_DB_MAX_CONNS=3, %d without", cfg.poolSize(16), configFromEnv(envFunc()).poolSize(16))
	}
	want := map[string]string{"customers": "one", "appointments": "two", "relationships": "one", "campaigns": "one", "read": "three"}
	for comp, db := range want {
		if got := cfg.DatabaseURLs[comp]; !strings.HasSuffix(got, "/"+db) {
			t.Errorf("%s database %q, want .../%s", comp, got, db)
		}
	}
	if cfg.ServiceAddrs["campaigns"] != "127.0.0.1:0" || cfg.ServiceURLs["customers"] != "http://10.0.0.1:9000" ||
		cfg.ServiceURLs["appointments"] != "http://"+defaultServiceAddrs["appointments"] {
		t.Errorf("service settings: %v %v", cfg.ServiceAddrs, cfg.ServiceURLs)
	}
}

// TestMigrate runs `crm migrate` twice on a fresh database (idempotent),
// with one area in a database of its own that does not exist yet (created).
func TestMigrate(t *testing.T) {
	t.Parallel()
	mainURL := testenv.Database(t)
	ownURL := missingDatabase(t, mainURL)
	env := envFunc("CRM_DATABASE_URL="+mainURL, "CRM_CAMPAIGNS_DATABASE_URL="+ownURL)
	for i := 0; i < 2; i++ {
		var out, errb bytes.Buffer
		if err := run(context.Background(), []string{"migrate"}, env, &out, &errb); err != nil {
			t.Fatalf("migrate #%d: %v\n%s", i+1, err, errb.String())
		}
	}
	schemas := func(dbURL string) map[string]bool {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(context.Background(),
			"SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_schema = ANY($1)", areas)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	got := schemas(mainURL)
	for _, a := range []string{"customers", "appointments", "relationships"} {
		if !got[a] {
			t.Errorf("schema %s has no tables in the main database (have %v)", a, got)
		}
	}
	if got["campaigns"] {
		t.Errorf("campaigns has tables in the main database, want them only in its own")
	}
	if own := schemas(ownURL); len(own) != 1 || !own["campaigns"] {
		t.Errorf("campaigns' own database has schemas %v, want only campaigns", own)
	}
}

// missingDatabase returns the URL of a database on the same server as
// base that does not exist yet, dropped at cleanup if something created it.
func missingDatabase(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.Name("crmt")
	u.Path = "/" + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testenv.AdminURL())
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return u.String()
}

// crm dev draws a service key when CRM_SERVICE_KEY is unset; the separate
// processes refuse to start without one, and take hex or base64.
func TestServiceKey(t *testing.T) {
	t.Parallel()
	a := &app{getenv: envFunc()}
	var cfg Config
	if err := a.loadServiceKey(&cfg, "dev", true); err != nil || cfg.ServiceKey == nil {
		t.Fatalf("dev without a key: %v", err)
	}
	cfg = Config{}
	if err := a.loadServiceKey(&cfg, "gateway", false); err == nil || cfg.ServiceKey != nil {
		t.Fatal("gateway started without a key")
	}
	secret := svcauth.NewSecret()
	for _, v := range []string{secret, " " + secret + "\n", strings.Repeat("0f", 32)} {
		a = &app{getenv: envFunc("CRM_SERVICE_KEY=" + v)}
		if err := a.loadServiceKey(&cfg, "service", false); err != nil || cfg.ServiceKey == nil {
			t.Fatalf("key %q: %v", v, err)
		}
	}
	// Two processes given the same key trust each other.
	var one, two Config
	a = &app{getenv: envFunc("CRM_SERVICE_KEY=" + secret)}
	_ = a.loadServiceKey(&one, "gateway", false)
	_ = a.loadServiceKey(&two, "service", false)
	tok, _ := one.ServiceKey.Sign("user-1")
	if sub, err := two.ServiceKey.Verify(tok); err != nil || sub != "user-1" {
		t.Fatalf("shared key: %q %v", sub, err)
	}
}
