// Package pgmigrate applies a component's embedded, numbered SQL migrations
// (tern's format: 001_name.sql, ...) inside one PostgreSQL schema. Each
// component keeps its own version table in that schema, so components that
// share a database never see each other's migrations. Applying is idempotent
// and safe from several processes at once (tern holds an advisory lock).
//
// Migration files live in the directory "migrations" of the component's
// file system (its go:embed), and are templates: {{.schema}} is the schema
// name.
package pgmigrate

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidIdent reports whether s can be used unquoted as a schema name.
func ValidIdent(s string) bool { return identRE.MatchString(s) }

// Apply creates schema when missing and brings component's migrations (the
// files in fsys's "migrations" directory) in it up to date.
func Apply(ctx context.Context, pool *pgxpool.Pool, schema, component string, fsys fs.FS) error {
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	if !ValidIdent(schema) {
		return fmt.Errorf("migrate %s: invalid schema name %q", component, schema)
	}
	if !ValidIdent(component) {
		return fmt.Errorf("migrate: invalid component name %q", component)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s.%s: %w", schema, component, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		// Two processes creating the same schema at once may collide on
		// the catalog's unique index; the schema exists either way.
		var exists bool
		if qerr := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); qerr != nil || !exists {
			return fmt.Errorf("migrate %s: create schema: %w", schema, err)
		}
	}
	if err := run(ctx, conn.Conn(), schema, component, sub); err != nil {
		// tern holds a database-wide session advisory lock around each
		// step and releases it with ctx: after a failure, above all a
		// cancelled ctx, this session may still hold it, and a pooled
		// connection keeping it would make every later migration of the
		// database wait forever. Closing the session releases it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = conn.Conn().Close(cctx)
		cancel()
		return err
	}
	return nil
}

func run(ctx context.Context, conn *pgx.Conn, schema, component string, fsys fs.FS) error {
	m, err := migrate.NewMigrator(ctx, conn, schema+"."+component+"_schema_version")
	if err != nil {
		return fmt.Errorf("migrate %s.%s: %w", schema, component, err)
	}
	m.Data["schema"] = schema
	if err := m.LoadMigrations(fsys); err != nil {
		return fmt.Errorf("migrate %s.%s: load: %w", schema, component, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s.%s: %w", schema, component, err)
	}
	return nil
}
