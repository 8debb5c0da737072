package cluster

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultAdminURL is the shared PostgreSQL's maintenance database.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// CreateDatabase creates database name on the admin URL's server and
// returns its URL.
func CreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabases drops the named databases, ending their sessions.
func DropDatabases(ctx context.Context, adminURL string, names []string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var errs []string
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Sprintf("drop %s: %v", n, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// Pool opens a small pool (at most maxConns) on component's database
// ("read" or an area), for checks; the caller closes it.
func (c *Cluster) Pool(ctx context.Context, component string, maxConns int32) (*pgxpool.Pool, error) {
	u, ok := c.DatabaseURLs[component]
	if !ok {
		return nil, fmt.Errorf("no database for component %q", component)
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	return pgxpool.NewWithConfig(ctx, cfg)
}

// TerminateBackends ends every session on component's database except the
// caller's (pg_terminate_backend) and returns how many it ended. The
// PostgreSQL server itself keeps running.
func (c *Cluster) TerminateBackends(ctx context.Context, component string) (int, error) {
	conn, err := pgx.Connect(ctx, c.cfg.AdminURL)
	if err != nil {
		return 0, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, c.dbNames[component]).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("terminate backends of %s: %w", component, err)
	}
	return n, nil
}

// Connections counts the sessions on the cluster's databases, by
// component, to keep an eye on PostgreSQL's connection limit.
func (c *Cluster) Connections(ctx context.Context) (map[string]int, error) {
	conn, err := pgx.Connect(ctx, c.cfg.AdminURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	out := map[string]int{}
	for comp, name := range c.dbNames {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&n); err != nil {
			return nil, err
		}
		out[comp] = n
	}
	return out, nil
}
