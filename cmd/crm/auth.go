package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/graph/auth"
	"crm/graph/limit"
)

// defaultAudience is the audience tokens must carry when CRM_AUTH_AUDIENCE
// is unset.
const defaultAudience = "crm"

// authFromEnv reads the token settings: CRM_AUTH_ISSUER, CRM_AUTH_AUDIENCE,
// CRM_AUTH_KEYS_FILE, CRM_AUTH_ROLE_CLAIM, CRM_AUTH_SALESPERSON_CLAIM.
func authFromEnv(get func(name, def string) string) auth.Config {
	return auth.Config{
		Issuer:           get("CRM_AUTH_ISSUER", ""),
		Audience:         get("CRM_AUTH_AUDIENCE", defaultAudience),
		KeysFile:         get("CRM_AUTH_KEYS_FILE", ""),
		RoleClaim:        get("CRM_AUTH_ROLE_CLAIM", auth.DefaultRoleClaim),
		SalespersonClaim: get("CRM_AUTH_SALESPERSON_CLAIM", auth.DefaultSalespersonClaim),
	}
}

// validateAuth checks the token settings that are set.
func validateAuth(c auth.Config, check func(name string, err error)) {
	if c.Issuer != "" {
		check("CRM_AUTH_ISSUER", validateHTTPURL(c.Issuer))
	}
}

// gatewayAuth is the authenticator of `crm gateway`: the configured issuer,
// which it requires.
func gatewayAuth(ctx context.Context, cfg Config) (auth.Authenticator, error) {
	if cfg.Auth.Issuer == "" {
		return nil, errors.New("CRM_AUTH_ISSUER is required: the gateway accepts only tokens of an OpenID Connect issuer (crm dev runs a development one)")
	}
	return auth.NewVerifier(ctx, cfg.Auth)
}

// devAuth starts the development issuer of `crm dev` on the gateway's
// listener, whose address must be a loopback one: anyone who reaches the
// issuer gets a token of any demo user. Its demo users are an admin, a
// marketer, a viewer, and one user per salesperson of the read model
// (manager or sales), so that signing in as one shows that salesperson's
// customers.
func devAuth(ln net.Listener, cfg Config, read *pgxpool.Pool) (*auth.DevIssuer, error) {
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		return nil, fmt.Errorf("crm dev serves a development issuer and binds loopback addresses only, not %s (CRM_HTTP_ADDR)", ln.Addr())
	}
	issuer := "http://" + ln.Addr().String() + auth.DevPath
	return auth.NewDevIssuer(issuer, cfg.Auth.Audience, func(ctx context.Context) ([]auth.DevUser, error) {
		return devUsers(ctx, read)
	})
}

// devUsers lists the development issuer's demo users.
func devUsers(ctx context.Context, read *pgxpool.Pool) ([]auth.DevUser, error) {
	users := []auth.DevUser{
		{Subject: "admin", Name: "Admin (all data)", Role: auth.Admin},
		{Subject: "marketing", Name: "Marketing (campaigns and deals)", Role: auth.Marketing},
		{Subject: "viewer", Name: "Viewer (read-only, no personal data)", Role: auth.Viewer},
	}
	rows, err := read.Query(ctx, "SELECT id, name, role FROM "+readComponent+".salespeople ORDER BY seq LIMIT 50")
	if err != nil {
		return nil, err
	}
	sp, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.DevUser, error) {
		var id, name, role string
		err := r.Scan(&id, &name, &role)
		u := auth.DevUser{Subject: id, Name: name, Role: auth.Sales, SalespersonID: id}
		if role == "MANAGER" {
			u.Role = auth.Manager
		}
		return u, err
	})
	return append(users, sp...), err
}

// devBase is the base URL of the gateway behind a GraphQL endpoint URL.
func devBase(endpoint string) string {
	return strings.TrimSuffix(strings.TrimSuffix(endpoint, "/"), "/graphql")
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}

// Exposure says what the gateway serves besides /graphql and the health
// endpoints. Unset switches take the mode's default: on under crm dev, off
// under crm gateway.
type Exposure struct {
	// Introspection (CRM_INTROSPECTION), GraphiQL (CRM_GRAPHIQL) and
	// Metrics (CRM_METRICS): "on" or "off".
	Introspection, GraphiQL, Metrics *bool
	// MetricsAddr (CRM_METRICS_ADDR) serves /metrics on a listener of its
	// own instead of the gateway's (it implies Metrics on).
	MetricsAddr string
	// AllowedHosts (CRM_ALLOWED_HOSTS, comma-separated) are the Host names
	// the gateway answers for. Unset: the loopback names when it listens
	// on a loopback address, else any name.
	AllowedHosts []string
	// Limits are the per-user abuse controls (limitsFromEnv).
	Limits limit.Config
	bad    []badSetting // variables with a value that is not one they take
}

// badSetting is a variable set to a value it does not take, and what it
// takes.
type badSetting struct{ name, want string }

func exposureFromEnv(get func(name, def string) string) Exposure {
	var e Exposure
	flag := func(name string) *bool {
		switch strings.ToLower(get(name, "")) {
		case "":
			return nil
		case "on", "true", "1", "yes":
			v := true
			return &v
		case "off", "false", "0", "no":
			v := false
			return &v
		}
		e.bad = append(e.bad, badSetting{name, "want on or off"})
		return nil
	}
	e.Introspection, e.GraphiQL, e.Metrics = flag("CRM_INTROSPECTION"), flag("CRM_GRAPHIQL"), flag("CRM_METRICS")
	e.MetricsAddr = get("CRM_METRICS_ADDR", "")
	var bad []badSetting
	e.Limits, bad = limitsFromEnv(get)
	e.bad = append(e.bad, bad...)
	for _, h := range strings.Split(get("CRM_ALLOWED_HOSTS", ""), ",") {
		if h = strings.TrimSpace(h); h != "" {
			e.AllowedHosts = append(e.AllowedHosts, h)
		}
	}
	return e
}

func validateExposure(e Exposure, check func(name string, err error)) {
	for _, b := range e.bad {
		check(b.name, errors.New(b.want))
	}
	if e.MetricsAddr != "" {
		check("CRM_METRICS_ADDR", validateAddr(e.MetricsAddr))
	}
}

// on is a switch's value, def when unset.
func on(v *bool, def bool) bool {
	if v == nil {
		return def
	}
	return *v
}

// allowedHosts is the Host allow-list for a gateway listening on ln.
func (e Exposure) allowedHosts(ln net.Listener) []string {
	if len(e.AllowedHosts) > 0 {
		return e.AllowedHosts
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return []string{"localhost", "127.0.0.1", "::1"}
	}
	return nil
}

// limitsFromEnv reads the per-user limits of the gateway (limit.Config):
// CRM_RATE_MUTATIONS and CRM_RATE_QUERY_POINTS (per second),
// CRM_MAX_SOCKETS_PER_USER, CRM_MAX_SUBSCRIPTIONS_PER_USER; "off" (or 0)
// lifts one. bad lists the variables that are neither.
func limitsFromEnv(get func(name, def string) string) (c limit.Config, bad []badSetting) {
	c = limit.Defaults
	num := func(name string, into *float64) {
		switch v := strings.ToLower(get(name, "")); v {
		case "":
		case "off":
			*into = 0
		default:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 || n > 1e9 {
				bad = append(bad, badSetting{name, "want a number (per user) or off"})
				return
			}
			*into = n
		}
	}
	sockets, subs := float64(c.MaxSockets), float64(c.MaxSubscriptions)
	num("CRM_RATE_MUTATIONS", &c.Mutations)
	num("CRM_RATE_QUERY_POINTS", &c.QueryPoints)
	num("CRM_MAX_SOCKETS_PER_USER", &sockets)
	num("CRM_MAX_SUBSCRIPTIONS_PER_USER", &subs)
	c.MaxSockets, c.MaxSubscriptions = int(sockets), int(subs)
	return c, bad
}
