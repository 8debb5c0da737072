package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CutPool is a pool on the test database whose sessions carry a unique
// application_name and whose client sockets are remembered by backend pid,
// so that a test can find a session and end it from either side: cut the
// client off (as a network failure would: the client reads an error at
// once while the server goes on with what it received) or terminate the
// backend. Its methods return errors rather than failing the test, so they
// may run in a goroutine of the test's own.
type CutPool struct {
	// Pool is the pool to hand to the code under test.
	Pool  *pgxpool.Pool
	app   string
	admin *pgxpool.Pool
	mu    sync.Mutex
	socks map[uint32]*cuttable
	// down: the server cannot be reached, pgx's cancel request after a
	// read error included.
	down atomic.Bool
}

// NewCutPool opens a CutPool of at most 4 sessions on the test database;
// admin watches and terminates its sessions. Both sides close at cleanup.
func NewCutPool(t testing.TB, admin *pgxpool.Pool) *CutPool {
	t.Helper()
	s := &CutPool{app: Name("cut"), admin: admin, socks: map[uint32]*cuttable{}}
	cfg, err := pgxpool.ParseConfig(DatabaseURL(t))
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
	if s.Pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Pool.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.socks {
			c.Conn.Close()
		}
	})
	return s
}

// Sleeping waits until one of the pool's sessions sleeps in pg_sleep and
// returns its backend pid.
func (s *CutPool) Sleeping() (uint32, error) {
	var pid int32
	err := s.await("a session of the pool sleeping", func() (bool, error) {
		err := s.admin.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event = 'PgSleep' LIMIT 1`, s.app).Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	return uint32(pid), err
}

// Cut cuts the client off a session (its pending read fails at once) and
// the pool off the server, until IdleThenClose.
func (s *CutPool) Cut(pid uint32) error {
	s.mu.Lock()
	c, ok := s.socks[pid]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no socket for backend %d", pid)
	}
	s.down.Store(true)
	c.cut.Store(true)
	c.Conn.SetReadDeadline(time.Now())
	return nil
}

// IdleThenClose waits until a cut session's backend has finished what it
// received (idle, outside any transaction), then closes its socket and
// lets the pool reach the server again.
func (s *CutPool) IdleThenClose(pid uint32) error {
	err := s.await("the cut session idle", func() (bool, error) {
		var state string
		err := s.admin.QueryRow(context.Background(), "SELECT coalesce(state, '') FROM pg_stat_activity WHERE pid = $1",
			int32(pid)).Scan(&state)
		return err == nil && state == "idle", err
	})
	s.mu.Lock()
	s.socks[pid].Conn.Close()
	s.mu.Unlock()
	s.down.Store(false)
	return err
}

// Gone waits until the backend has exited (whatever it was doing is over).
func (s *CutPool) Gone(pid uint32) error {
	return s.await("the backend gone", func() (bool, error) {
		var n int
		err := s.admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
			int32(pid)).Scan(&n)
		return err == nil && n == 0, err
	})
}

// Terminate ends a session from the server's side.
func (s *CutPool) Terminate(pid uint32) error {
	_, err := s.admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", int32(pid))
	return err
}

// await polls cond every 5 ms (short enough to catch a session inside a
// one-second pg_sleep) until it holds, fails, or 20 s pass.
func (s *CutPool) await(what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		switch {
		case err != nil:
			return fmt.Errorf("waiting for %s: %w", what, err)
		case ok:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

var errCut = errors.New("testenv: connection cut")

// cuttable is a client socket whose answers the test can cut off: once
// cut, the client reads and writes nothing more (it sees an error) while
// the server's end stays open, so the server goes on with what it already
// received.
type cuttable struct {
	net.Conn
	cut atomic.Bool
}

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

// Close leaves a cut socket open: IdleThenClose closes it once the server
// is done.
func (c *cuttable) Close() error {
	if c.cut.Load() {
		return nil
	}
	return c.Conn.Close()
}
