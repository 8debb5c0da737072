package eventlog_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

// sessions is a pool on the test database whose sessions carry a unique
// application_name and whose sockets are remembered by backend pid, so a
// test can find the writer's session and end it from either side.
type sessions struct {
	app   string
	pool  *pgxpool.Pool
	admin *pgxpool.Pool
	mu    sync.Mutex
	socks map[uint32]*cuttable
	// down: the server cannot be reached (pgx's cancel request after a
	// read error must not reach it either).
	down atomic.Bool
}

func newSessions(t *testing.T, admin *pgxpool.Pool) *sessions {
	t.Helper()
	s := &sessions{app: testenv.Name("outcome"), admin: admin, socks: map[uint32]*cuttable{}}
	cfg, err := pgxpool.ParseConfig(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["application_name"] = s.app
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if s.down.Load() {
			return nil, errCut
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &cuttable{Conn: c}, nil
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.socks[c.PgConn().PID()] = c.PgConn().Conn().(*cuttable)
		return nil
	}
	if s.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.pool.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.socks {
			c.Conn.Close()
		}
	})
	return s
}

// cuttable is a client socket whose answers the test can cut off, as a
// network failure would: once cut, the client reads and writes nothing
// more (it sees an error) while the server's end stays open, so the
// server goes on with what it already received.
type cuttable struct {
	net.Conn
	cut atomic.Bool
}

var errCut = errors.New("test: connection cut")

func (c *cuttable) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.cut.Load() {
		return 0, errCut
	}
	return n, err
}

func (c *cuttable) Write(p []byte) (int, error) {
	if c.cut.Load() {
		return 0, errCut
	}
	return c.Conn.Write(p)
}

// Close leaves a cut socket open: the test closes it once the server is done.
func (c *cuttable) Close() error {
	if c.cut.Load() {
		return nil
	}
	return c.Conn.Close()
}

// sleeping waits until one of the pool's sessions sleeps in pg_sleep and
// returns its backend pid.
func (s *sessions) sleeping(t *testing.T) uint32 {
	t.Helper()
	var pid int32
	s.await(t, "a session of the log's pool sleeping", func() bool {
		err := s.admin.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event = 'PgSleep' LIMIT 1`, s.app).Scan(&pid)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return err == nil
	})
	return uint32(pid)
}

// cut cuts the client off a session (its pending read fails at once) and
// off the server, until idleThenClose.
func (s *sessions) cut(t *testing.T, pid uint32) {
	t.Helper()
	s.mu.Lock()
	c, ok := s.socks[pid]
	s.mu.Unlock()
	if !ok {
		t.Fatalf("no socket for backend %d", pid)
	}
	s.down.Store(true)
	c.cut.Store(true)
	c.Conn.SetReadDeadline(time.Now())
}

// idleThenClose waits until a cut session's backend has finished what it
// received (idle, outside any transaction), then closes its socket.
func (s *sessions) idleThenClose(t *testing.T, pid uint32) {
	t.Helper()
	s.await(t, "the cut session idle", func() bool {
		var state string
		if err := s.admin.QueryRow(context.Background(), "SELECT coalesce(state, '') FROM pg_stat_activity WHERE pid = $1",
			int32(pid)).Scan(&state); err != nil {
			t.Fatal(err)
		}
		return state == "idle"
	})
	s.mu.Lock()
	s.socks[pid].Conn.Close()
	s.mu.Unlock()
	s.down.Store(false)
	s.gone(t, pid)
}

// gone waits until the backend has exited (whatever it was doing is over).
func (s *sessions) gone(t *testing.T, pid uint32) {
	t.Helper()
	s.await(t, "the backend gone", func() bool {
		var n int
		if err := s.admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
			int32(pid)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

func (s *sessions) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// terminate ends a session from the server's side.
func (s *sessions) terminate(t *testing.T, pid uint32) {
	t.Helper()
	if _, err := s.admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", int32(pid)); err != nil {
		t.Fatal(err)
	}
}

// An append whose connection is lost while its transaction, COMMIT
// included, is on the wire fails with ErrOutcomeUnknown, and the writer
// never sends it again (an append without idempotency key would be
// recorded twice). Errors the server answered before COMMIT stay definite.
func TestAppendOutcomeUnknown(t *testing.T) {
	t.Parallel()
	admin, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, admin, schema); err != nil {
		t.Fatal(err)
	}
	// A deferred trigger that sleeps during COMMIT, for "SlowCommit" events.
	for _, sql := range []string{
		`CREATE FUNCTION ` + schema + `.slow_commit() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$`,
		`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON ` + schema + `.events
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.type = 'SlowCommit')
			EXECUTE FUNCTION ` + schema + `.slow_commit()`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	s := newSessions(t, admin)
	// An inline statement that sleeps just before COMMIT, for "SlowInline"
	// events, and one that fails, for "Bad" events.
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: s.pool, Schema: schema,
		Inline: func(evs []eventlog.Event) ([]eventlog.Statement, error) {
			var out []eventlog.Statement
			for _, e := range evs {
				switch e.Type {
				case "SlowInline":
					out = append(out, eventlog.Statement{SQL: "SELECT pg_sleep(1)"})
				case "Bad":
					out = append(out, eventlog.Statement{SQL: "SELECT 1/0"})
				}
			}
			return out, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	count := func(stream, typ string) int {
		t.Helper()
		evs, err := l.ReadStream(ctx, stream, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Type == typ {
				n++
			}
		}
		return n
	}
	appendAsync := func(stream string, expected int64, typ string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := l.Append(ctx, stream, expected, eventlog.Metadata{}, ev(typ, nil))
			done <- err
		}()
		return done
	}

	// The writer now knows the log: the next append to s-1 is sent in one
	// optimistic pipeline.
	if _, err := l.Append(ctx, "s-1", eventlog.NoStream, eventlog.Metadata{}, ev("Opened", nil)); err != nil {
		t.Fatal(err)
	}

	t.Run("connection lost after COMMIT was sent", func(t *testing.T) {
		done := appendAsync("s-1", eventlog.AnyVersion, "SlowInline")
		pid := s.sleeping(t)
		s.cut(t, pid) // the server still has the rest of the pipeline, COMMIT included
		err := <-done
		s.idleThenClose(t, pid)
		if !errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Errorf("append answered %v, want ErrOutcomeUnknown", err)
		}
		// The server went on and committed: once, never twice.
		if n := count("s-1", "SlowInline"); n != 1 {
			t.Errorf("the append was recorded %d times, want once", n)
		}
	})

	t.Run("session ended during COMMIT", func(t *testing.T) {
		done := appendAsync("s-2", eventlog.NoStream, "SlowCommit")
		pid := s.sleeping(t)
		s.terminate(t, pid)
		err := <-done
		if !errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("append answered %v, want ErrOutcomeUnknown", err)
		}
		s.gone(t, pid)
		if n := count("s-2", "SlowCommit"); n > 1 {
			t.Fatalf("the append was recorded %d times", n)
		}
	})

	t.Run("session ended before COMMIT", func(t *testing.T) {
		done := appendAsync("s-3", eventlog.NoStream, "SlowInline")
		pid := s.sleeping(t)
		s.terminate(t, pid)
		err := <-done
		if err == nil || errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("append answered %v, want a definite failure", err)
		}
		s.gone(t, pid)
		if n := count("s-3", "SlowInline"); n != 0 {
			t.Fatalf("a refused append was recorded %d times", n)
		}
	})

	t.Run("definite failures", func(t *testing.T) {
		_, err := l.Append(ctx, "s-1", eventlog.NoStream, eventlog.Metadata{}, ev("Again", nil))
		if !errors.Is(err, eventlog.ErrVersionConflict) || errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("stale append answered %v, want a version conflict only", err)
		}
		_, err = l.Append(ctx, "s-4", eventlog.NoStream, eventlog.Metadata{}, ev("Bad", nil))
		if err == nil || errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("failing inline statement answered %v, want a definite failure", err)
		}
	})

	// The writer goes on.
	if _, err := l.Append(ctx, "s-5", eventlog.NoStream, eventlog.Metadata{}, ev("Opened", nil)); err != nil {
		t.Fatal(err)
	}
}
