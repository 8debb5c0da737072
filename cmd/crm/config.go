package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"crm/eventlog/svcauth"
	"crm/graph/auth"
)

// areas are the four write-side areas, in the order crm migrates and starts
// them. Each one's schema is named after it.
var areas = []string{"customers", "appointments", "relationships", "campaigns"}

// readComponent is the read side (projector and gateway); its schema is
// named "read".
const readComponent = "read"

// Default listen addresses: the gateway's, then one per write service, so
// that a gateway started alone finds services started alone.
const defaultHTTPAddr = "127.0.0.1:8080"

var defaultServiceAddrs = map[string]string{
	"customers":     "127.0.0.1:8081",
	"appointments":  "127.0.0.1:8082",
	"relationships": "127.0.0.1:8083",
	"campaigns":     "127.0.0.1:8084",
}

const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/crm?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
	defaultNamespace   = "crm"
)

// Config is crm's whole configuration, read from the environment variables
// of the runtime contract (shared/contract/CONTRACT.md). Only cmd/crm reads
// the environment; components get the parts they need in their own Config.
type Config struct {
	// HTTPAddr is where the gateway listens (CRM_HTTP_ADDR).
	HTTPAddr string
	// DatabaseURL is the PostgreSQL of every component without its own
	// (CRM_DATABASE_URL).
	DatabaseURL string
	// DatabaseURLs maps each component (an area or "read") to its database:
	// CRM_<COMPONENT>_DATABASE_URL, else DatabaseURL. Components sharing a
	// database keep to their own schema, named after the component.
	DatabaseURLs map[string]string
	// RedisURL is the Redis every component uses (CRM_REDIS_URL).
	RedisURL string
	// Namespace prefixes every Redis key and channel (CRM_NAMESPACE).
	Namespace string
	// ServiceURLs maps each area to the base URL of its write service
	// (CRM_<AREA>_URL), for the gateway and for services calling another.
	ServiceURLs map[string]string
	// ServiceAddrs maps each area to the listen address of `crm service
	// AREA`: CRM_SERVICE_ADDR when set, else a fixed port per area.
	ServiceAddrs map[string]string
	// DBMaxConns caps each PostgreSQL pool of the process
	// (CRM_DB_MAX_CONNS; 0: each component's default; -1: invalid).
	DBMaxConns int32
	// FeedBuffer is how many events an event feed subscriber may be
	// behind before it is ended with SLOW_CONSUMER (CRM_FEED_BUFFER; 0:
	// the gateway's default, 2048; -1: invalid).
	FeedBuffer int
	// Auth says which bearer tokens the gateway accepts (CRM_AUTH_*,
	// auth.go); crm dev runs its own issuer.
	Auth auth.Config
	// ClientID is the console's public client id at the issuer
	// (CRM_AUTH_CLIENT_ID): set, the console at /app signs in with the
	// issuer (Authorization Code flow with PKCE, docs/auth.md).
	ClientID string
	// Expose says what the gateway serves besides /graphql (auth.go).
	Expose Exposure

	// ServiceKey signs and verifies the service credential
	// (CRM_SERVICE_KEY, servicekey.go); set by loadServiceKey for the
	// subcommands that call or serve the services.
	ServiceKey *svcauth.Key
}

// poolSize is the size of a pool whose component default is def.
func (c Config) poolSize(def int32) int32 {
	if c.DBMaxConns > 0 {
		return c.DBMaxConns
	}
	return def
}

// envName is the variable holding component's database URL or area's
// service URL.
func envName(component, suffix string) string {
	return "CRM_" + strings.ToUpper(component) + "_" + suffix
}

// configFromEnv reads the environment through getenv and fills in defaults;
// an empty variable counts as unset. Call Validate before use.
func configFromEnv(getenv func(string) string) Config {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		HTTPAddr:     get("CRM_HTTP_ADDR", defaultHTTPAddr),
		DatabaseURL:  get("CRM_DATABASE_URL", defaultDatabaseURL),
		RedisURL:     get("CRM_REDIS_URL", defaultRedisURL),
		Namespace:    get("CRM_NAMESPACE", defaultNamespace),
		DatabaseURLs: map[string]string{},
		ServiceURLs:  map[string]string{},
		ServiceAddrs: map[string]string{},
		Auth:         authFromEnv(get),
		ClientID:     get("CRM_AUTH_CLIENT_ID", ""),
		Expose:       exposureFromEnv(get),
	}
	serviceAddr := get("CRM_SERVICE_ADDR", "")
	if v := get("CRM_DB_MAX_CONNS", ""); v != "" {
		c.DBMaxConns = -1
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 1000 {
			c.DBMaxConns = int32(n)
		}
	}
	if v := get("CRM_FEED_BUFFER", ""); v != "" {
		c.FeedBuffer = -1
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 1000000 {
			c.FeedBuffer = n
		}
	}
	for _, comp := range append(append([]string{}, areas...), readComponent) {
		c.DatabaseURLs[comp] = get(envName(comp, "DATABASE_URL"), c.DatabaseURL)
	}
	for _, area := range areas {
		c.ServiceURLs[area] = get(envName(area, "URL"), "http://"+defaultServiceAddrs[area])
		c.ServiceAddrs[area] = defaultServiceAddrs[area]
		if serviceAddr != "" {
			c.ServiceAddrs[area] = serviceAddr
		}
	}
	return c
}

// Validate reports every bad setting in one line ("CRM_REDIS_URL: invalid
// URL: missing protocol scheme; CRM_HTTP_ADDR: ..."), naming the variable
// and never echoing a URL, which may hold a password.
func (c Config) Validate() error {
	var bad []string
	check := func(name string, err error) {
		if err != nil {
			bad = append(bad, name+": "+err.Error())
		}
	}
	check("CRM_HTTP_ADDR", validateAddr(c.HTTPAddr))
	check("CRM_DATABASE_URL", validatePostgresURL(c.DatabaseURL))
	for _, comp := range append(append([]string{}, areas...), readComponent) {
		if u := c.DatabaseURLs[comp]; u != c.DatabaseURL {
			check(envName(comp, "DATABASE_URL"), validatePostgresURL(u))
		}
	}
	check("CRM_REDIS_URL", validateRedisURL(c.RedisURL))
	check("CRM_NAMESPACE", validateNamespace(c.Namespace))
	validateAuth(c.Auth, check)
	validateExposure(c.Expose, check)
	if c.DBMaxConns < 0 {
		check("CRM_DB_MAX_CONNS", errors.New("want a number of connections, 1-1000"))
	}
	if c.FeedBuffer < 0 {
		check("CRM_FEED_BUFFER", errors.New("want a number of events, 1-1000000"))
	}
	for _, area := range areas {
		check(envName(area, "URL"), validateHTTPURL(c.ServiceURLs[area]))
	}
	// Every area gets the same CRM_SERVICE_ADDR, so one report is enough.
	for _, area := range areas {
		if err := validateAddr(c.ServiceAddrs[area]); err != nil {
			check("CRM_SERVICE_ADDR", err)
			break
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// validateAddr accepts host:port with a numeric port (0 picks a free one).
func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad address %q: port must be a number 0-65535", addr)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("bad address %q: bad host", addr)
	}
	return nil
}

// parseURL parses a URL without letting url.Parse's error, which quotes the
// whole input, repeat a password.
func parseURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("invalid URL: %v", uerr.Err)
		}
		return nil, errors.New("invalid URL")
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return u, nil
		}
	}
	if u.Scheme == "" {
		return nil, errors.New("invalid URL: missing scheme")
	}
	return nil, fmt.Errorf("invalid URL: scheme %q, want %s", u.Scheme, strings.Join(schemes, " or "))
}

func validatePostgresURL(raw string) error {
	if _, err := parseURL(raw, "postgres", "postgresql"); err != nil {
		return err
	}
	if _, err := pgconn.ParseConfig(raw); err != nil {
		var perr *pgconn.ParseConfigError
		if errors.As(err, &perr) && perr.Unwrap() != nil {
			return fmt.Errorf("invalid PostgreSQL URL: %v", perr.Unwrap())
		}
		return errors.New("invalid PostgreSQL URL")
	}
	return nil
}

func validateRedisURL(raw string) error {
	if _, err := parseURL(raw, "redis", "rediss", "unix"); err != nil {
		return err
	}
	if _, err := redis.ParseURL(raw); err != nil {
		return fmt.Errorf("invalid Redis URL: %v", err)
	}
	return nil
}

func validateHTTPURL(raw string) error {
	u, err := parseURL(raw, "http", "https")
	if err != nil {
		return err
	}
	if u.Host == "" {
		return errors.New("invalid URL: missing host")
	}
	return nil
}

// namespaceRE keeps Redis key prefixes free of separators and hash tags.
var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func validateNamespace(ns string) error {
	if !namespaceRE.MatchString(ns) {
		return fmt.Errorf("bad namespace %q: want 1-64 of A-Z a-z 0-9 _ . -", ns)
	}
	return nil
}

// validArea reports whether name is one of the four areas.
func validArea(name string) bool {
	for _, a := range areas {
		if a == name {
			return true
		}
	}
	return false
}

// ensureDatabase creates the database dbURL names when it does not exist,
// by connecting to the "postgres" maintenance database of the same server.
// Several processes may race to create it; the loser succeeds too.
func ensureDatabase(ctx context.Context, dbURL string) error {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return errors.New("invalid PostgreSQL URL")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	if !isPgCode(err, "3D000") { // invalid_catalog_name: the database is missing
		return fmt.Errorf("connect to database %s: %w", cfg.Database, err)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	aconn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	defer aconn.Close(ctx)
	_, err = aconn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	// 42P04: it exists; 23505: a concurrent CREATE DATABASE won the race.
	if err != nil && !isPgCode(err, "42P04") && !isPgCode(err, "23505") {
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	return nil
}

func isPgCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// redactURL returns raw with any password replaced, for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
