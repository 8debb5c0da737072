package kit_test

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
	"crm/eventlog/errcode"
	"crm/eventlog/testenv"
	"crm/services/kit"
)

type slow struct {
	ID string `json:"id"`
}

func (slow) EventType() string  { return "Slow" }
func (e slow) StreamID() string { return e.ID }

// An append whose answer is lost after COMMIT was sent: with an
// idempotency key the command is answered with what was recorded, which the
// log holds once; without one the answer says the outcome is unknown, never
// UNAVAILABLE ("nothing was recorded").
func TestRunResolvesUnknownOutcome(t *testing.T) {
	t.Parallel()
	admin, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, admin, schema); err != nil {
		t.Fatal(err)
	}
	s := newCutPool(t, admin)
	// Each commit of a Slow event sleeps just before COMMIT.
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: s.pool, Schema: schema,
		Inline: func(evs []eventlog.Event) ([]eventlog.Statement, error) {
			return []eventlog.Statement{{SQL: "SELECT pg_sleep(1)"}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	x := &kit.Executor{Area: "test", Log: l, ResolveWait: 15 * time.Second}
	run := func(stream, key string) (kit.Result, error) {
		cut := s.cutWhenSleeping(t)
		defer func() { <-cut }()
		return x.Run(ctx, eventlog.Metadata{IdempotencyKey: key}, nil, func(ctx context.Context) (kit.Plan, error) {
			v, err := kit.Load(ctx, l, stream, func(string, []byte) (struct{}, error) { return struct{}{}, nil }, func(struct{}) {})
			return kit.Plan{Primary: stream, Events: []kit.DomainEvent{slow{stream}}, Versions: map[string]int64{stream: v}}, err
		})
	}
	count := func(stream string) int {
		evs, err := l.ReadAllStream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	res, err := run("e-1", "cmd:k-1")
	if err != nil {
		t.Fatalf("with a key: %v", err)
	}
	if len(res.Events) != 1 || res.Events[0].StreamID != "e-1" || res.Position != res.Events[0].Position || res.Version != 1 {
		t.Fatalf("with a key: result %+v", res)
	}
	if n := count("e-1"); n != 1 {
		t.Fatalf("with a key: recorded %d times, want once", n)
	}
	if prev, ok, err := l.Lookup(ctx, "cmd:k-1"); err != nil || !ok || prev.Events[0].ID != res.Events[0].ID {
		t.Fatalf("lookup: %+v %v %v", prev, ok, err)
	}

	_, err = run("e-2", "")
	if e := errcode.Of(err); e == nil || e.Code != errcode.Internal || e.Message == "" {
		t.Fatalf("without a key: %v, want INTERNAL (the outcome is unknown)", err)
	}
	if n := count("e-2"); n > 1 {
		t.Fatalf("without a key: recorded %d times", n)
	}
}

// cutPool is a pool on the test database whose sessions the test can cut
// off from the client's side, as a network failure would: the client
// reads an error at once while the server goes on with what it received.
type cutPool struct {
	app   string
	pool  *pgxpool.Pool
	admin *pgxpool.Pool
	mu    sync.Mutex
	socks map[uint32]*cuttable
	down  atomic.Bool // no new connection (pgx's cancel request included) reaches the server
}

var errCut = errors.New("test: connection cut")

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

func (c *cuttable) Close() error {
	if c.cut.Load() {
		return nil // closed by the test once the server is done
	}
	return c.Conn.Close()
}

func newCutPool(t *testing.T, admin *pgxpool.Pool) *cutPool {
	t.Helper()
	s := &cutPool{app: testenv.Name("cut"), admin: admin, socks: map[uint32]*cuttable{}}
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

// cutWhenSleeping, in the background: waits until a session of the pool
// sleeps in pg_sleep, cuts it off, waits until the server has finished
// (committed) and lets the pool reach the server again. The channel
// closes when it is done.
func (s *cutPool) cutWhenSleeping(t *testing.T) <-chan struct{} {
	var pid int32
	var state string
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !s.await(t, func() bool {
			err := s.admin.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
				WHERE application_name = $1 AND wait_event = 'PgSleep' LIMIT 1`, s.app).Scan(&pid)
			return err == nil
		}) {
			return
		}
		s.mu.Lock()
		c := s.socks[uint32(pid)]
		s.mu.Unlock()
		s.down.Store(true)
		c.cut.Store(true)
		c.Conn.SetReadDeadline(time.Now())
		s.await(t, func() bool {
			err := s.admin.QueryRow(context.Background(), "SELECT coalesce(state, '') FROM pg_stat_activity WHERE pid = $1",
				pid).Scan(&state)
			return err == nil && state == "idle"
		})
		c.Conn.Close()
		s.down.Store(false)
	}()
	return done
}

func (s *cutPool) await(t *testing.T, cond func() bool) bool {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Error("cutPool: timed out")
			return false
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	return true
}
