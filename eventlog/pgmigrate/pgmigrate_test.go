package pgmigrate_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/pgmigrate"
	"crm/eventlog/testenv"
)

// ternLock is the database-wide session advisory lock tern takes around
// every migration step (github.com/jackc/tern/v2/migrate lockNum).
const ternLock = int64(9628173550095224)

// cancelAfterLock cancels a context once a traced connection has taken
// tern's lock: the moment a process stopping during its start-up
// migrations can hit.
type cancelAfterLock struct {
	cancel context.CancelFunc
	armed  atomic.Bool
}

func (c *cancelAfterLock) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (c *cancelAfterLock) TraceQueryEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if d.Err == nil && strings.Contains(d.CommandTag.String(), "SELECT") && c.armed.CompareAndSwap(true, false) {
		c.cancel()
	}
}

// A migration cancelled while tern holds its lock must not leave the lock
// held by a pooled connection: every later migration of the database (any
// schema, any component, any process) would wait for it forever. This is
// what stalled TestRelaySurvivesKillsAndCrashes's final relay: a relay
// stopped in its start-up migration leaked the lock, and the next Run
// blocked in its own migration (docs/relay.md).
func TestCancelledMigrationReleasesTheLock(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	dbURL := testenv.Database(t) // advisory locks are per database: a database of its own
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	hook := &cancelAfterLock{}
	cfg.ConnConfig.Tracer = hook
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	files := fstest.MapFS{"migrations/001_t.sql": {Data: []byte("CREATE TABLE {{.schema}}.t (id int);")}}

	ctx, cancel := context.WithCancel(context.Background())
	hook.cancel = cancel
	// Armed once the schema exists: the next successful SELECT is tern's
	// pg_advisory_lock.
	if err := pgmigrate.Apply(context.Background(), pool, "m", "first", fstest.MapFS{"migrations/001_a.sql": {Data: []byte("SELECT 1;")}}); err != nil {
		t.Fatal(err)
	}
	hook.armed.Store(true)
	if err := pgmigrate.Apply(ctx, pool, "m", "second", files); err == nil {
		t.Fatal("Apply with its context cancelled under the lock succeeded")
	}
	if hook.armed.Load() {
		t.Fatal("the hook never fired: tern's lock statement changed?")
	}

	// Another session must be able to take the lock at once.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(context.Background(), "SELECT pg_try_advisory_lock($1)", ternLock).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !got {
		t.Fatal("tern's migration lock is still held after the cancelled migration returned: later migrations of the database would wait forever")
	}
	if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", ternLock); err != nil {
		t.Fatal(err)
	}
	// And a migration through the same pool goes through.
	mctx, mcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer mcancel()
	if err := pgmigrate.Apply(mctx, pool, "m", "second", files); err != nil {
		t.Fatalf("migration after the cancelled one: %v", err)
	}
}
