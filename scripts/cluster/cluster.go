// Package cluster runs the CRM as separate real processes on one machine,
// for fault-injection and scale runs: `crm service AREA` per area (each
// area in a database of its own), `crm projector` workers and `crm gateway`
// processes, a private redis-server, and a separate read database, all on
// loopback. Every process can be killed (kill -9) and started again; the
// cluster stops everything it started and drops its databases on Close.
//
// It is a library for programs and tests under scripts/: it reads no flags
// and no environment besides passing the inherited environment, minus
// every CRM_ variable, to its children.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
	"crm/graph/auth"
)

// Areas are the four write-side areas.
var Areas = []string{"customers", "appointments", "relationships", "campaigns"}

// Read is the read side's component name (its database and schema).
const Read = "read"

// Config says what to run.
type Config struct {
	// Bin is the crm binary (see Build).
	Bin string
	// Dir receives the processes' logs; it must exist.
	Dir string
	// AdminURL is the maintenance database of the PostgreSQL server on
	// which the cluster creates its databases (default DefaultAdminURL).
	AdminURL string
	// Prefix starts the name of every database created (default "crm_cluster").
	Prefix string
	// ServicesPerArea is the number of `crm service AREA` processes per
	// area (default 1); the gateways and projectors use the first.
	ServicesPerArea int
	// Projectors and Gateways are the numbers of those processes
	// (defaults 1 and 1).
	Projectors, Gateways int
	// DBMaxConns caps every PostgreSQL pool of every crm process
	// (CRM_DB_MAX_CONNS; default 4), so that the whole cluster stays far
	// below the server's connection limit.
	DBMaxConns int
	// KeepDatabases leaves the databases in place on Close, for a
	// post-mortem (drop them by hand: their names start with Prefix).
	KeepDatabases bool
	// Env is added to every crm process's environment (after the
	// cluster's own CRM_ settings, so it may override them).
	Env []string
}

func (c *Config) setDefaults() {
	if c.AdminURL == "" {
		c.AdminURL = DefaultAdminURL
	}
	if c.Prefix == "" {
		c.Prefix = "crm_cluster"
	}
	if c.ServicesPerArea <= 0 {
		c.ServicesPerArea = 1
	}
	if c.Projectors <= 0 {
		c.Projectors = 1
	}
	if c.Gateways <= 0 {
		c.Gateways = 1
	}
	if c.DBMaxConns <= 0 {
		c.DBMaxConns = 4
	}
}

// Service is one `crm service AREA` process.
type Service struct {
	*Proc
	Area string
	URL  string // http://127.0.0.1:PORT
}

// Gateway is one `crm gateway` process.
type Gateway struct {
	*Proc
	URL string // http://127.0.0.1:PORT
	// Token is an admin's bearer token the gateway accepts (the cluster's
	// issuer signed it; see Cluster.Issuer).
	Token string
}

// Cluster is a running set of processes with its databases and Redis.
type Cluster struct {
	cfg Config
	// ID is the random suffix of the cluster's names.
	ID string
	// DatabaseURLs maps each component (the areas and Read) to its database.
	DatabaseURLs map[string]string
	dbNames      map[string]string
	Redis        *RedisServer
	Namespace    string
	Services     map[string][]*Service
	// ServiceKey is the cluster's CRM_SERVICE_KEY (drawn per cluster), and
	// Key the same key, for the harness's own calls to the services.
	ServiceKey string
	Key        *svcauth.Key
	Projectors []*Proc
	Gateways   []*Gateway
	// Issuer is the cluster's OpenID Connect issuer, served on loopback
	// by this process; its gateways trust it (CRM_AUTH_ISSUER) and the
	// harnesses sign their clients' tokens with it.
	Issuer    *auth.DevIssuer
	issuerSrv *http.Server

	closeOnce sync.Once
	closeErr  error
}

// Start creates the databases and Redis, applies the migrations
// (`crm migrate`) and starts every process, waiting until services and
// gateways answer. On error, whatever was started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	cfg.setDefaults()
	var b [4]byte
	_, _ = rand.Read(b[:])
	c := &Cluster{cfg: cfg, ID: hex.EncodeToString(b[:]), DatabaseURLs: map[string]string{}, dbNames: map[string]string{},
		Services: map[string][]*Service{}, Namespace: "crm", ServiceKey: svcauth.NewSecret()}
	if c.Key, err = svcauth.ParseKey(c.ServiceKey); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	for _, comp := range append(append([]string{}, Areas...), Read) {
		name := cfg.Prefix + "_" + c.ID + "_" + comp
		u, err := CreateDatabase(ctx, cfg.AdminURL, name)
		if err != nil {
			return nil, err
		}
		c.dbNames[comp], c.DatabaseURLs[comp] = name, u
	}
	if c.Redis, err = StartRedis(cfg.Dir); err != nil {
		return nil, err
	}
	if err := c.startIssuer(); err != nil {
		return nil, err
	}
	admin, err := c.Token(auth.DevUser{Subject: "harness", Name: "Harness", Role: auth.Admin})
	if err != nil {
		return nil, err
	}
	// Every process's environment names every service, so addresses come first.
	for _, area := range Areas {
		for i := 0; i < cfg.ServicesPerArea; i++ {
			addr, err := testenv.FreeAddr()
			if err != nil {
				return nil, err
			}
			c.Services[area] = append(c.Services[area], &Service{Area: area, URL: "http://" + addr})
		}
	}
	for _, area := range Areas {
		for i, s := range c.Services[area] {
			name := "service-" + area
			if i > 0 {
				name += "-" + strconv.Itoa(i+1)
			}
			s.Proc = c.proc(name, []string{"CRM_SERVICE_ADDR=" + strings.TrimPrefix(s.URL, "http://")}, "service", area)
		}
	}
	for i := 0; i < cfg.Projectors; i++ {
		c.Projectors = append(c.Projectors, c.proc("projector-"+strconv.Itoa(i+1), nil, "projector"))
	}
	for i := 0; i < cfg.Gateways; i++ {
		addr, err := testenv.FreeAddr()
		if err != nil {
			return nil, err
		}
		c.Gateways = append(c.Gateways, &Gateway{URL: "http://" + addr, Token: admin,
			Proc: c.proc("gateway-"+strconv.Itoa(i+1), []string{"CRM_HTTP_ADDR=" + addr}, "gateway")})
	}
	for attempt := 1; ; attempt++ {
		out, err := c.Run(ctx, 2*time.Minute, "migrate")
		if err == nil {
			break
		}
		if attempt == 5 || !TooManyClients(out) {
			return nil, fmt.Errorf("crm migrate: %w: %s", err, out)
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	for _, area := range Areas {
		for _, s := range c.Services[area] {
			if err := c.StartService(s); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range c.Projectors {
		if err := c.StartProjector(p); err != nil {
			return nil, err
		}
	}
	for _, g := range c.Gateways {
		if err := c.StartGateway(g); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// proc describes a crm process with the cluster's environment plus extra.
func (c *Cluster) proc(name string, extra []string, args ...string) *Proc {
	return &Proc{Name: name, Path: c.cfg.Bin, Args: args, Env: append(c.Env(), extra...),
		LogPath: filepath.Join(c.cfg.Dir, name+".log")}
}

// Env is the CRM_ configuration every crm process of the cluster gets (the
// inherited environment without its CRM_ variables, then the cluster's):
// a database per component, the private Redis, the services' URLs.
func (c *Cluster) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRM_") {
			env = append(env, kv)
		}
	}
	env = append(env, "CRM_DATABASE_URL="+c.DatabaseURLs[Read], "CRM_REDIS_URL="+c.Redis.URL(), "CRM_NAMESPACE="+c.Namespace,
		"CRM_DB_MAX_CONNS="+strconv.Itoa(c.cfg.DBMaxConns), "CRM_SERVICE_KEY="+c.ServiceKey,
		"CRM_AUTH_ISSUER="+c.Issuer.Issuer(), "CRM_AUTH_AUDIENCE="+issuerAudience,
		"CRM_METRICS=on", // the harnesses read the gateways' crm_subscriptions
		// Their clients all sign in as one admin: the per-user limits are lifted.
		"CRM_RATE_MUTATIONS=off", "CRM_RATE_QUERY_POINTS=off", "CRM_MAX_SOCKETS_PER_USER=off", "CRM_MAX_SUBSCRIPTIONS_PER_USER=off")
	for comp, u := range c.DatabaseURLs {
		env = append(env, "CRM_"+strings.ToUpper(comp)+"_DATABASE_URL="+u)
	}
	for area, ss := range c.Services {
		env = append(env, "CRM_"+strings.ToUpper(area)+"_URL="+ss[0].URL)
	}
	return append(env, c.cfg.Env...)
}

// Run runs a crm subcommand to completion (at most timeout) with the
// cluster's environment and returns its combined output.
func (c *Cluster) Run(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cfg.Bin, args...)
	cmd.Env = c.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// StartService starts s (again) and waits until it serves its log.
func (c *Cluster) StartService(s *Service) error {
	return startReady(s.Proc, func() error { return c.serviceOK(s.URL + "/events?after=0&limit=1") })
}

// StartGateway starts g (again) and waits until /readyz answers 200.
func (c *Cluster) StartGateway(g *Gateway) error {
	return startReady(g.Proc, func() error { return httpOK(g.URL + "/readyz") })
}

// StartProjector starts p (again) and waits until it says it runs.
func (c *Cluster) StartProjector(p *Proc) error {
	return startReady(p, func() error { return nil })
}

// startReady starts p and waits until ready answers nil. A process that
// exits while starting is started again, up to 5 times in all: on a
// shared PostgreSQL, a start may meet the server at its connection limit
// for a moment ("too many clients"), which is not what a run measures.
func startReady(p *Proc, ready func() error) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if err = p.Start(); err != nil {
			return err
		}
		// A process that fails its start exits within a second or two.
		settle := time.Now().Add(2 * time.Second)
		err = p.waitFor(60*time.Second, func() error {
			if err := ready(); err != nil {
				return err
			}
			if time.Now().Before(settle) {
				return errors.New("settling")
			}
			return nil
		})
		if err == nil || !errors.Is(err, errExited) {
			return err
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	return err
}

// Processes lists every crm process of the cluster.
func (c *Cluster) Processes() []*Proc {
	var ps []*Proc
	for _, area := range Areas {
		for _, s := range c.Services[area] {
			ps = append(ps, s.Proc)
		}
	}
	ps = append(ps, c.Projectors...)
	for _, g := range c.Gateways {
		ps = append(ps, g.Proc)
	}
	out := ps[:0]
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Dead lists the crm processes that exited although nobody stopped them
// (a crash), with the end of their logs.
func (c *Cluster) Dead() error {
	var errs []error
	for _, p := range c.Processes() {
		if err, ok := p.Exited(); ok && !p.Stopped() {
			errs = append(errs, fmt.Errorf("%s exited (%v); log ends:\n%s", p.Name, err, p.Tail(1500)))
		}
	}
	return errors.Join(errs...)
}

// Close stops every process (SIGTERM, then SIGKILL after 10 s), stops
// Redis and drops the databases. Safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for _, p := range c.Processes() {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop(10 * time.Second) }()
		}
		wg.Wait()
		if c.Redis != nil {
			c.Redis.Stop()
		}
		if c.issuerSrv != nil {
			_ = c.issuerSrv.Close()
		}
		var names []string
		for _, n := range c.dbNames {
			names = append(names, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if len(names) > 0 && !c.cfg.KeepDatabases {
			c.closeErr = DropDatabases(ctx, c.cfg.AdminURL, names)
		}
	})
	return c.closeErr
}

// TooManyClients reports whether a crm process's output says the shared
// PostgreSQL server was at its connection limit (SQLSTATE 53300).
func TooManyClients(output string) bool {
	return strings.Contains(output, "SQLSTATE 53300")
}

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}

var probe = &http.Client{Timeout: 2 * time.Second}

// serviceOK is httpOK for a service's log API, with the service credential.
func (c *Cluster) serviceOK(u string) error {
	return probeOK(u, func(req *http.Request) error { return c.Key.Authorize(req, "cluster") })
}

func httpOK(u string) error { return probeOK(u, nil) }

// probeOK GETs u (through prepare, when set) and wants 200.
func probeOK(u string, prepare func(*http.Request) error) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(req); err != nil {
			return err
		}
	}
	resp, err := probe.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// Build compiles ./cmd/crm of the module containing the working directory
// into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "crm")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crm")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build crm: %v: %s", err, out)
	}
	return bin, nil
}

// issuerAudience is the audience of the cluster's tokens.
const issuerAudience = "crm"

// startIssuer serves the cluster's issuer on a loopback port of this
// process (discovery and keys; tokens are signed in-process by Token).
func (c *Cluster) startIssuer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	iss, err := auth.NewDevIssuer("http://"+ln.Addr().String()+auth.DevPath, issuerAudience,
		func(context.Context) ([]auth.DevUser, error) { return nil, nil })
	if err != nil {
		ln.Close()
		return err
	}
	iss.TTL = 24 * time.Hour // a run outlasts any default lifetime
	c.Issuer, c.issuerSrv = iss, &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = c.issuerSrv.Serve(ln) }()
	return nil
}

// Token signs a bearer token of u that the cluster's gateways accept.
func (c *Cluster) Token(u auth.DevUser) (string, error) {
	tok, _, err := c.Issuer.Sign(u, 0)
	return tok, err
}
