package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/testenv"
	apt "crm/services/appointments/contract"
	cmp "crm/services/campaigns/contract"
	cus "crm/services/customers/contract"
	rel "crm/services/relationships/contract"
)

// appendTo appends one domain event to l (any version), for goroutines
// that cannot call t.Fatal.
func appendTo(ctx context.Context, l *eventlog.Log, e domainEvent) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = l.Append(ctx, e.StreamID(), eventlog.AnyVersion, eventlog.Metadata{Actor: "test"},
		eventlog.NewEvent{Type: e.EventType(), Data: data})
	return err
}

// writer makes the i-th event of an area, touching a small set of ids so
// that later events update rows earlier ones created.
type writer func(i int, rnd *rand.Rand) domainEvent

var (
	rbFuture = time.Now().UTC().Add(72 * time.Hour).Truncate(time.Second)
	rbNow    = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
)

func cusID(n int) string { return fmt.Sprintf("cus_%d", n) }

var writers = map[string]writer{
	AreaCustomers: func(i int, rnd *rand.Rand) domainEvent {
		if i < 40 || rnd.IntN(3) == 0 {
			return cus.CustomerRegistered{CustomerID: cusID(i), Name: fmt.Sprintf("C%d", i),
				Email: fmt.Sprintf("c%d@example.com", i), RegisteredAt: rbNow()}
		}
		n := rnd.IntN(40)
		return cus.CustomerUpdated{CustomerID: cusID(n), Name: fmt.Sprintf("C%d-%d", n, i),
			Email: fmt.Sprintf("c%d@example.com", n), Changed: []string{"name"}, UpdatedAt: rbNow()}
	},
	AreaRelationships: func(i int, rnd *rand.Rand) domainEvent {
		if i < 4 {
			return rel.SalespersonRegistered{SalespersonID: fmt.Sprintf("sp_%d", i), Name: fmt.Sprintf("S%d", i),
				Email: fmt.Sprintf("s%d@example.com", i), Role: rel.RoleSalesRep, RegisteredAt: rbNow()}
		}
		c := cusID(rnd.IntN(60))
		switch rnd.IntN(3) {
		case 0:
			return rel.AccountTeamAssigned{CustomerID: c, SalesRepID: fmt.Sprintf("sp_%d", rnd.IntN(4)), AssignedAt: rbNow()}
		case 1:
			return rel.InterestRecorded{CustomerID: c, Interest: "Boats", Interests: []string{"Boats", fmt.Sprint(i)}, RecordedAt: rbNow()}
		default:
			return rel.ProductAdded{CustomerID: c, DealID: fmt.Sprintf("deal_%d", i), Product: "Yacht",
				Products: []string{"Yacht", fmt.Sprint(i)}, AddedAt: rbNow()}
		}
	},
	AreaAppointments: func(i int, rnd *rand.Rand) domainEvent {
		if i < 10 || rnd.IntN(2) == 0 {
			s := rbFuture.Add(time.Duration(i) * time.Minute)
			return apt.AppointmentScheduled{AppointmentID: fmt.Sprintf("apt_%d", i), CustomerID: cusID(rnd.IntN(60)),
				SalespersonID: fmt.Sprintf("sp_%d", rnd.IntN(4)), StartsAt: s, EndsAt: s.Add(time.Hour), Location: "Office"}
		}
		// Cancels a random appointment (of a made-up customer when that
		// appointment never existed: the projection copes).
		n := rnd.IntN(10)
		s := rbFuture.Add(time.Duration(n) * time.Minute)
		return apt.AppointmentCancelled{AppointmentID: fmt.Sprintf("apt_%d", n), CustomerID: cusID(n),
			SalespersonID: "sp_0", StartsAt: s, EndsAt: s.Add(time.Hour), Reason: "busy"}
	},
	AreaCampaigns: func(i int, rnd *rand.Rand) domainEvent {
		switch {
		case i == 0:
			return cmp.CampaignCreated{CampaignID: "camp_0", Name: "Spring"}
		case i < 20 || rnd.IntN(2) == 0:
			return cmp.DealOpened{DealID: fmt.Sprintf("deal_%d", i), CustomerID: cusID(rnd.IntN(60)), CampaignID: "camp_0",
				Product: "Yacht", Value: cmp.Money{Amount: fmt.Sprintf("%d.50", i), CurrencyCode: "EUR"}}
		default:
			// Wins one of the first deals, whose customer the seed fixed.
			n := 1 + rnd.IntN(19)
			return cmp.DealWon{DealID: fmt.Sprintf("deal_%d", n), CustomerID: cusID(n), CampaignID: "camp_0",
				Product: "Yacht", Value: cmp.Money{Amount: fmt.Sprintf("%d.50", n), CurrencyCode: "EUR"}}
		}
	},
}

// testAreas starts the four areas' logs with their relays.
func testAreas(t *testing.T, ctx context.Context, rdb *redis.Client, ns string) (map[string]*areaLog, map[string]consumer.LogSource, map[string]HeadReader) {
	areas := map[string]*areaLog{}
	sources := map[string]consumer.LogSource{}
	heads := map[string]HeadReader{}
	for _, name := range logAreas {
		areas[name] = startArea(t, ctx, name, rdb, ns)
		sources[name], heads[name] = areas[name].log, areas[name].log
	}
	return areas, sources, heads
}

func TestRebuildWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, ns := testenv.Redis(t)
	db := newReadDB(t)
	areas, sources, heads := testAreas(t, ctx, rdb, ns)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	opt := rdb.Options()
	opt.PoolSize = 12*testParts + 8
	prdb := redis.NewClient(opt)
	t.Cleanup(func() { prdb.Close() })
	r, err := New(Config{Pool: db.pool, Schema: db.schema, Redis: prdb, Namespace: ns, Partitions: testParts,
		Sources: sources, Logger: logger,
		Consumer: func(c *consumer.Config) { c.Block = 100 * time.Millisecond; c.LeaseTTL = 3 * time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRunner := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(rctx) }()
	t.Cleanup(func() {
		stopRunner()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// History before the rebuild, then writers that keep going during it.
	var appended atomic.Int64
	counters := map[string]int{}
	for area, w := range writers {
		rnd := rand.New(rand.NewPCG(1, uint64(len(area))))
		for i := range 150 {
			if err := appendTo(ctx, areas[area].log, w(i, rnd)); err != nil {
				t.Fatal(err)
			}
		}
		counters[area] = 150
	}
	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for area, w := range writers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(2, uint64(len(area))))
			tick := time.NewTicker(100 * time.Millisecond) // a steady rate, not a wait for a condition
			defer tick.Stop()
			for i := counters[area]; ; i++ {
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
				if err := appendTo(wctx, areas[area].log, w(i, rnd)); err != nil {
					if wctx.Err() == nil {
						t.Errorf("append %s: %v", area, err)
					}
					return
				}
				appended.Add(1)
			}
		})
	}
	t.Cleanup(stopWriters)
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := appended.Load(); n < 40 {
			return fmt.Errorf("%d events appended by the writers", n)
		}
		return nil
	})

	// Rebuild every projection, one after the other, while writes go on.
	var during, caughtUp int64
	for _, p := range All() {
		before := appended.Load()
		sawMark := false
		st, err := Rebuild(ctx, RebuildConfig{Pool: db.pool, Schema: db.schema, Projection: p, Sources: sources,
			Partitions: testParts, Logger: logger, Progress: func(pr RebuildProgress) {
				if sawMark {
					return
				}
				m, err := RebuildsInProgress(ctx, db.pool, db.schema)
				if err != nil {
					t.Errorf("RebuildsInProgress: %v", err)
				}
				sawMark = m[p.Name()]
			}})
		if err != nil {
			t.Fatalf("rebuild %s: %v", p.Name(), err)
		}
		t.Logf("rebuild %s: %+v; %d events appended meanwhile", p.Name(), st, appended.Load()-before)
		during += appended.Load() - before
		caughtUp += st.CaughtUp
		if !sawMark {
			t.Errorf("rebuild %s not listed by RebuildsInProgress while running", p.Name())
		}
		if len(st.Skipped) != 0 {
			t.Errorf("rebuild %s skipped %v", p.Name(), st.Skipped)
		}
		if m, err := RebuildsInProgress(ctx, db.pool, db.schema); err != nil || len(m) != 0 {
			t.Errorf("after rebuild %s: RebuildsInProgress = %v, %v", p.Name(), m, err)
		}
	}
	// Writes landed during the rebuilds, and the switches carried over
	// events the live tables had applied beyond the replay.
	if during == 0 || caughtUp == 0 {
		t.Errorf("%d events appended during the rebuilds, %d caught up in switches", during, caughtUp)
	}
	stopWriters()
	wg.Wait()
	t.Logf("%d events appended by the writers", appended.Load())

	// The live runner catches up on the rebuilt tables.
	testenv.Eventually(t, 60*time.Second, func() error {
		sts, err := Status(ctx, db.pool, db.schema, StatusOptions{Heads: heads, Partitions: testParts, CatchingUpLag: 1}, All()...)
		if err != nil {
			return err
		}
		for _, st := range sts {
			if st.Lag != 0 || st.State != StateRunning {
				return fmt.Errorf("status %+v", st)
			}
		}
		return nil
	})

	// A from-scratch replay of every log into a fresh schema is equal,
	// row for row, and no event was lost or applied twice.
	fresh, versions := replayFresh(t, ctx, areas, All())
	exp := sameRows(t, db, fresh, All())
	if len(exp["customers"]) < 40 || len(exp["events"]) < 600 {
		t.Errorf("too little data to prove anything: %d customers, %d events", len(exp["customers"]), len(exp["events"]))
	}
	appliedOnce(t, ctx, db, areas, versions)
	// The identity sequences came along: rows created after the switch got
	// a seq, none twice.
	for _, table := range []string{"customers", "appointments", "deals", "salespeople", "campaigns"} {
		var n, withSeq, distinct int64
		if err := db.pool.QueryRow(ctx, `SELECT count(*), count(seq), count(DISTINCT seq) FROM `+db.schema+`.`+table).
			Scan(&n, &withSeq, &distinct); err != nil {
			t.Fatal(err)
		}
		if n != withSeq || n != distinct {
			t.Errorf("%s: %d rows, %d with seq, %d distinct", table, n, withSeq, distinct)
		}
	}
}

// logAreas are the four areas whose logs feed the projections, in the
// order replayFresh replays them.
var logAreas = []string{AreaCustomers, AreaRelationships, AreaAppointments, AreaCampaigns}

// replayFresh replays every area's log from scratch into a fresh read
// schema, a page per transaction applied as one batch to each projection of
// ps that follows the area, and returns it with each customer stream's
// last version.
func replayFresh(t *testing.T, ctx context.Context, areas map[string]*areaLog, ps []Projection) (*readDB, map[string]int64) {
	t.Helper()
	fresh := newReadDB(t)
	versions := map[string]int64{}
	for _, area := range logAreas {
		for after := int64(0); ; {
			evs, err := areas[area].log.ReadLog(ctx, after, eventlog.MaxPageLimit)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			if area == AreaCustomers {
				for _, ev := range evs {
					versions[ev.StreamID] = ev.Version
				}
			}
			tx, err := fresh.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if slices.Contains(p.Sources(), area) {
					if _, err := applyEvents(ctx, tx, p, fresh.schema, area, evs); err != nil {
						t.Fatalf("fresh apply %s after %d: %v", area, after, err)
					}
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			after = evs[len(evs)-1].Position
		}
	}
	return fresh, versions
}

// sameRows fails t for each table of ps whose rows differ between the
// live and the fresh read model (seq aside: it is drawn in arrival order),
// and returns the fresh rows by table.
func sameRows(t *testing.T, live, fresh *readDB, ps []Projection) map[string][]string {
	t.Helper()
	got, exp := live.dump(t, ps...), fresh.dump(t, ps...)
	for _, p := range ps {
		for _, table := range p.Tables() {
			if !slices.Equal(got[table], exp[table]) {
				t.Errorf("table %s: rebuilt live has %d rows, fresh replay %d; first difference %s", table,
					len(got[table]), len(exp[table]), firstDiff(got[table], exp[table]))
			}
		}
	}
	return exp
}

// appliedOnce checks that the live events read model holds one row per
// position of each area's log, with the log's id, and that each registered
// customer is at its stream's version (versions from replayFresh): no
// event lost, none applied again after a newer one.
func appliedOnce(t *testing.T, ctx context.Context, live *readDB, areas map[string]*areaLog, versions map[string]int64) {
	t.Helper()
	for _, area := range logAreas {
		h, err := areas[area].log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n, distinct, maxPos int64
		if err := live.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id), coalesce(max(position), 0) FROM `+live.schema+`.events
			WHERE area = $1`, area).Scan(&n, &distinct, &maxPos); err != nil {
			t.Fatal(err)
		}
		if n != h || distinct != h || maxPos != h {
			t.Errorf("events of %s: %d rows, %d ids, max position %d; log head %d", area, n, distinct, maxPos, h)
		}
	}
	rows, err := live.pool.Query(ctx, `SELECT id, version FROM `+live.schema+`.customers WHERE registered`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var id string
	var v int64
	if _, err := pgxForEach(rows, &id, &v, func() { got[id] = v }); err != nil {
		t.Fatal(err)
	}
	var behind []string
	for id, want := range versions {
		if got[id] != want {
			behind = append(behind, fmt.Sprintf("%s at version %d of %d", id, got[id], want))
		}
	}
	if len(behind) > 0 {
		slices.Sort(behind)
		t.Errorf("%d customers not at their stream's version, e.g. %v", len(behind), behind[:min(5, len(behind))])
	}
}

// pgxForEach scans two columns of every row.
func pgxForEach(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}, a, b any, fn func()) (int, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := rows.Scan(a, b); err != nil {
			return n, err
		}
		fn()
		n++
	}
	return n, rows.Err()
}

func firstDiff(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("at %d:\n live  %s\n fresh %s", i, x, y)
		}
	}
	return "none"
}

func TestRebuildEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newReadDB(t)
	sources := map[string]consumer.LogSource{}
	for _, a := range logAreas {
		pool, schema := testenv.Schema(t)
		if err := eventlog.Migrate(ctx, pool, schema); err != nil {
			t.Fatal(err)
		}
		l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		sources[a] = l
	}
	// A leftover scratch schema of a crashed rebuild is dropped first.
	if _, err := db.pool.Exec(ctx, `CREATE SCHEMA `+scratchSchema(db.schema, "customers")+`;
		CREATE TABLE `+scratchSchema(db.schema, "customers")+`.junk (x int)`); err != nil {
		t.Fatal(err)
	}
	// The rebuilt tables have the indexes the migrations create, including
	// the query indexes the replay goes without (QueryIndexed).
	indexes := func() map[string]string {
		rows, err := db.pool.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = ANY($2)`,
			db.schema, (Customers{}).Tables())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		var name, def string
		if _, err := pgx.ForEachRow(rows, []any{&name, &def}, func() error { m[name] = def; return nil }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	migrated := indexes()
	for _, name := range (Customers{}).QueryIndexes() {
		if migrated[name] == "" {
			t.Fatalf("query index %s is not in the migrations: %v", name, migrated)
		}
	}
	for range 2 { // twice: a rebuild after a rebuild works too
		st, err := Rebuild(ctx, RebuildConfig{Pool: db.pool, Schema: db.schema, Projection: Customers{}, Sources: sources,
			Partitions: testParts})
		if err != nil {
			t.Fatal(err)
		}
		if st.Replayed != 0 || st.CaughtUp != 0 {
			t.Errorf("stats %+v", st)
		}
		if got := indexes(); !maps.Equal(got, migrated) {
			t.Errorf("indexes after the rebuild %v, want %v", got, migrated)
		}
	}
	var scratch bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`,
		scratchSchema(db.schema, "customers")).Scan(&scratch); err != nil || scratch {
		t.Errorf("scratch schema left: %v, %v", scratch, err)
	}
	for _, table := range (Customers{}).Tables() {
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM `+db.schema+`.`+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows, %v", table, n, err)
		}
	}
	for _, a := range (Customers{}).Sources() {
		cps, err := consumer.Checkpoints(ctx, db.pool, db.schema, ConsumerName("customers"), a)
		if err != nil || len(cps) != testParts {
			t.Errorf("checkpoints of %s: %v, %v", a, cps, err)
		}
	}
	// The rebuilt tables work: the projection applies to them.
	db.apply(t, []Projection{Customers{}}, newFeed(AreaCustomers).ev(t, cus.CustomerRegistered{CustomerID: "cus_1", Name: "Ada",
		Email: "ada@example.com", RegisteredAt: time.Now().UTC()}))
	if row := db.row(t, "customers", "cus_1"); row == nil || row["registered"] != true {
		t.Errorf("row after rebuild: %v", row)
	}

	// Config problems are reported together; a missing source is one.
	_, err := Rebuild(ctx, RebuildConfig{Pool: db.pool, Schema: "Bad", Projection: Customers{},
		Sources: map[string]consumer.LogSource{AreaCustomers: sources[AreaCustomers]}})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, w := range []string{"invalid Schema", `needs source "relationships"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
