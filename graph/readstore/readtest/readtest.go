// Package readtest creates the read tables for the gateway's tests with the
// projector's own migrations, in a fresh per-test schema; fixtures then
// write rows as the projector would.
package readtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/testenv"
	"crm/projector"
)

// Schema gives a test a fresh schema holding the read tables, and a pool on
// its database.
func Schema(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, schema := testenv.Schema(t)
	if err := projector.Migrate(context.Background(), pool, schema, projector.All()...); err != nil {
		t.Fatalf("create read tables: %v", err)
	}
	return pool, schema
}

// Exec runs sql in schema (every {{.schema}} replaced by its quoted name),
// failing the test on error: fixtures write rows the way the projector
// would.
func Exec(t testing.TB, db *pgxpool.Pool, schema, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), strings.ReplaceAll(sql, "{{.schema}}", pgx.Identifier{schema}.Sanitize()), args...); err != nil {
		t.Fatalf("fixture %q: %v", firstLine(sql), err)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
