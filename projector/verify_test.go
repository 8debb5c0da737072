package projector

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/testenv"
	"crm/eventlog/verify"
	apt "crm/services/appointments/contract"
	cmp "crm/services/campaigns/contract"
)

// liveSystem is the four areas' logs with relays and a live Runner on a
// read schema, as in production.
type liveSystem struct {
	db      *readDB
	areas   map[string]*areaLog
	sources map[string]consumer.LogSource
	heads   map[string]HeadReader
	logger  *slog.Logger
	rdb     *redis.Client
	ns      string
	// projections the Runner runs (default All()).
	projections []Projection
}

// startLive starts the system with a Runner of ps (default All()).
func startLive(t *testing.T, ctx context.Context, ps ...Projection) *liveSystem {
	t.Helper()
	s := newLive(t, ctx, ps...)
	s.run(t, ctx)
	return s
}

// newLive starts the areas' logs and relays and migrates the read schema;
// run starts the Runner of ps (default All()).
func newLive(t *testing.T, ctx context.Context, ps ...Projection) *liveSystem {
	t.Helper()
	if len(ps) == 0 {
		ps = All()
	}
	s := &liveSystem{db: newReadDB(t), logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		projections: ps}
	s.rdb, s.ns = testenv.Redis(t)
	s.areas, s.sources, s.heads = testAreas(t, ctx, s.rdb, s.ns)
	return s
}

// run starts the Runner, stopped at cleanup.
func (s *liveSystem) run(t *testing.T, ctx context.Context) {
	t.Helper()
	opt := s.rdb.Options()
	opt.PoolSize = 12*testParts + 8
	prdb := redis.NewClient(opt)
	t.Cleanup(func() { prdb.Close() })
	r, err := New(Config{Pool: s.db.pool, Schema: s.db.schema, Redis: prdb, Namespace: s.ns, Partitions: testParts,
		Sources: s.sources, Logger: s.logger, Projections: s.projections,
		Consumer: func(c *consumer.Config) {
			c.Block, c.LeaseTTL = 100*time.Millisecond, 3*time.Second
			c.MaxAttempts, c.Backoff, c.MaxBackoff = 2, 10*time.Millisecond, 20*time.Millisecond
		}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// settle waits until every projection of the Runner has applied (or
// parked) every event.
func (s *liveSystem) settle(t *testing.T, ctx context.Context) {
	t.Helper()
	s.settleWithin(t, ctx, 60*time.Second)
}

// settleWithin is settle with a deadline of its own.
func (s *liveSystem) settleWithin(t *testing.T, ctx context.Context, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, func() error {
		sts, err := Status(ctx, s.db.pool, s.db.schema, StatusOptions{Heads: s.heads, Partitions: testParts, CatchingUpLag: 1}, s.projections...)
		if err != nil {
			return err
		}
		for _, st := range sts {
			if st.Lag != 0 {
				return fmt.Errorf("status %+v", st)
			}
		}
		return nil
	})
}

func (s *liveSystem) verify(t *testing.T, ctx context.Context, p Projection, sources map[string]consumer.LogSource) verify.Result {
	t.Helper()
	if sources == nil {
		sources = s.sources
	}
	res, err := Verify(ctx, VerifyConfig{Pool: s.db.pool, Schema: s.db.schema, Projection: p, Sources: sources,
		Partitions: testParts, MaxRows: 5, Logger: s.logger})
	if err != nil {
		t.Fatalf("verify %s: %v", p.Name(), err)
	}
	return res
}

func TestVerifyProjections(t *testing.T) {
	// Not parallel: each test holds five pools and a Runner.
	ctx := context.Background()
	s := startLive(t, ctx)

	// An appointment that starts while the test runs: its customer's
	// upcoming count was computed before the start, the replay's after.
	soon := time.Now().UTC().Add(1500 * time.Millisecond).Truncate(time.Microsecond)
	s.areas[AreaAppointments].append(t, apt.AppointmentScheduled{AppointmentID: "apt_soon", CustomerID: "cus_soon",
		SalespersonID: "sp_1", StartsAt: soon, EndsAt: soon.Add(time.Hour), Location: "Office"})
	for area, w := range verifyWriters {
		rnd := rand.New(rand.NewPCG(3, uint64(len(area))))
		for i := range 60 {
			if err := appendTo(ctx, s.areas[area].log, w(i, rnd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A poison event: read.customers and read.appointments park it,
	// read.events applies it.
	if _, err := s.areas[AreaCustomers].log.Append(ctx, "cus_poison", eventlog.AnyVersion, eventlog.Metadata{Actor: "test"},
		eventlog.NewEvent{Type: "CustomerRegistered", Data: []byte(`{"customerId": 7}`)}); err != nil {
		t.Fatal(err)
	}
	s.settle(t, ctx)
	testenv.Eventually(t, 10*time.Second, func() error {
		if time.Now().Before(soon.Add(100 * time.Millisecond)) {
			return fmt.Errorf("apt_soon has not started yet")
		}
		return nil
	})

	for _, p := range All() {
		res := s.verify(t, ctx, p, nil)
		if !res.Equal() {
			t.Errorf("verify %s on a correct model: %v, failed %v", p.Name(), res.DiffLines(), res.Failed)
		}
		if res.Rows() == 0 || res.Replayed == 0 {
			t.Errorf("verify %s compared %d rows, replayed %d", p.Name(), res.Rows(), res.Replayed)
		}
		t.Logf("verify %s: %d rows, replayed %d, %v", p.Name(), res.Rows(), res.Replayed, res.Duration)
		wantParked := p.Name() == "customers" || p.Name() == "appointments"
		if (len(res.Parked) == 1) != wantParked {
			t.Errorf("verify %s: parked %v", p.Name(), res.Parked)
		}
	}
	var upcoming int
	if err := s.db.pool.QueryRow(ctx, `SELECT upcoming_appointment_count FROM `+s.db.schema+`.customers WHERE id = $1`,
		"cus_soon").Scan(&upcoming); err != nil || upcoming != 1 {
		t.Errorf("live upcoming count of cus_soon = %d, %v; want the started appointment still counted", upcoming, err)
	}

	// Tampering is found and the row named: a changed name, a deleted
	// row, an extra row.
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := s.db.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE `+s.db.schema+`.customers SET name = 'Tampered' WHERE id = $1`, cusID(3))
	exec(`DELETE FROM ` + s.db.schema + `.salespeople WHERE id = 'sp_2'`)
	exec(`INSERT INTO ` + s.db.schema + `.deals (id, customer_id, product, amount, currency, stage, created_at, updated_at)
		VALUES ('deal_extra', 'cus_1', 'Boat', 1, 'EUR', 'OPEN', now(), now())`)
	for name, want := range map[string]string{
		"customers":   `customers id=cus_3: live={"name":"Tampered"} rebuilt={"name":"C3`,
		"salespeople": `salespeople id=sp_2: missing from live, rebuilt={`,
		"campaigns":   `deals id=deal_extra: extra in live, live={`,
	} {
		p, _ := ByName(name)
		res := s.verify(t, ctx, p, nil)
		got := res.DiffLines()
		if res.Equal() || len(got) != 1 || !strings.HasPrefix(got[0], want) {
			t.Errorf("verify %s after tampering: equal %v, diffs %q; want one starting %q", name, res.Equal(), got, want)
		}
	}
	// The others are still equal, and nothing is left behind.
	for _, name := range []string{"appointments", "events"} {
		p, _ := ByName(name)
		if res := s.verify(t, ctx, p, nil); !res.Equal() {
			t.Errorf("verify %s: %v", name, res.DiffLines())
		}
	}
	var scratch []string
	rows, err := s.db.pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, s.db.schema+`\_verify\_%`)
	if err != nil {
		t.Fatal(err)
	}
	if scratch, err = pgxCollectStrings(rows); err != nil || len(scratch) != 0 {
		t.Errorf("scratch schemas left: %v, %v", scratch, err)
	}
}

// hookSource runs hook once, before its first read.
type hookSource struct {
	consumer.LogSource
	once sync.Once
	hook func()
}

func (h *hookSource) ReadLog(ctx context.Context, after int64, limit int) ([]eventlog.Event, error) {
	h.once.Do(h.hook)
	return h.LogSource.ReadLog(ctx, after, limit)
}

func TestVerifyWhileWriting(t *testing.T) {
	// Not parallel: each test holds five pools and a Runner.
	ctx := context.Background()
	s := startLive(t, ctx)
	for area, w := range verifyWriters {
		rnd := rand.New(rand.NewPCG(4, uint64(len(area))))
		for i := range 80 {
			if err := appendTo(ctx, s.areas[area].log, w(i, rnd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.settle(t, ctx)

	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var appended atomic.Int64
	for area, w := range verifyWriters {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(5, uint64(len(area))))
			tick := time.NewTicker(20 * time.Millisecond) // a steady rate, not a wait
			defer tick.Stop()
			for i := 80; ; i++ {
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
				if err := appendTo(wctx, s.areas[area].log, w(i, rnd)); err != nil {
					if wctx.Err() == nil {
						t.Errorf("append %s: %v", area, err)
					}
					return
				}
				appended.Add(1)
			}
		})
	}
	defer func() { stopWriters(); wg.Wait() }()

	for _, p := range All() {
		// Before the replay reads its first page, the live consumers
		// apply more: the comparing transaction must catch those up.
		sources := map[string]consumer.LogSource{}
		for a, src := range s.sources {
			sources[a] = src
		}
		area := p.Sources()[0]
		sources[area] = &hookSource{LogSource: s.sources[area], hook: func() {
			before, err := consumer.Checkpoints(ctx, s.db.pool, s.db.schema, ConsumerName(p.Name()), area)
			if err != nil {
				t.Error(err)
				return
			}
			testenv.Eventually(t, 30*time.Second, func() error {
				now, err := consumer.Checkpoints(ctx, s.db.pool, s.db.schema, ConsumerName(p.Name()), area)
				if err != nil {
					return err
				}
				if slices.Max(slices.Collect(mapValues(now))) <= slices.Max(append(slices.Collect(mapValues(before)), 0)) {
					return fmt.Errorf("live %s/%s has not moved", p.Name(), area)
				}
				return nil
			})
		}}
		res := s.verify(t, ctx, p, sources)
		if !res.Equal() {
			t.Errorf("verify %s while writing: %v, failed %v", p.Name(), res.DiffLines(), res.Failed)
		}
		if res.CaughtUp == 0 {
			t.Errorf("verify %s: nothing caught up in the comparing transaction (%+v)", p.Name(), res.Cut)
		}
		t.Logf("verify %s: %d rows, replayed %d, caught up %d, cut %v, %v", p.Name(), res.Rows(), res.Replayed,
			res.CaughtUp, res.Cut, res.Duration)
	}
	if appended.Load() == 0 {
		t.Error("no writes during the verifications")
	}
}

// verifyWriters are writers whose deals and appointments keep the customer
// they were opened or scheduled with, as the real areas guarantee. (A deal
// or appointment that changes customer leaves the old customer's derived
// counts to whichever event of that customer comes next, so a live model
// and a replay legitimately differ on such made-up histories.)
var verifyWriters = func() map[string]writer {
	owner := func(id string) string {
		var n int
		fmt.Sscanf(id[strings.LastIndexByte(id, '_')+1:], "%d", &n)
		return cusID(n % 60)
	}
	out := map[string]writer{}
	for area, w := range writers {
		out[area] = func(i int, rnd *rand.Rand) domainEvent {
			switch e := w(i, rnd).(type) {
			case cmp.DealOpened:
				e.CustomerID = owner(e.DealID)
				return e
			case cmp.DealWon:
				e.CustomerID = owner(e.DealID)
				return e
			case apt.AppointmentScheduled:
				e.CustomerID = owner(e.AppointmentID)
				return e
			case apt.AppointmentCancelled:
				e.CustomerID = owner(e.AppointmentID)
				return e
			default:
				return e
			}
		}
	}
	return out
}()

func mapValues(m map[int]int64) func(func(int64) bool) {
	return func(yield func(int64) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func pgxCollectStrings(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func TestVerifyTablesCoverEveryTable(t *testing.T) {
	for _, p := range All() {
		specs, err := VerifyTables(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(specs) != len(p.Tables()) {
			t.Errorf("%s: %d specs for %d tables", p.Name(), len(specs), len(p.Tables()))
		}
	}
	if len(verifyTables) != len(All()) {
		t.Errorf("specs for %d projections, %d exist", len(verifyTables), len(All()))
	}
}
