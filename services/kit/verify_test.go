package kit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/relay"
	"crm/eventlog/testenv"
	"crm/eventlog/verify"
	"crm/services/kit"
)

const verifyParts = 4

// replicaSystem is a source area's log with its relay, and a replicating
// area whose consumer keeps a replica of it and reacts to archives, as an
// area's Open assembles them.
type replicaSystem struct {
	src    *eventlog.Log
	pool   *pgxpool.Pool
	schema string
	mapper kit.Mapper
	logger *slog.Logger
}

func startReplica(t *testing.T, ctx context.Context) *replicaSystem {
	t.Helper()
	rdb, ns := testenv.Redis(t)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srcPool, srcSchema := testenv.Schema(t)
	if err := eventlog.Migrate(ctx, srcPool, srcSchema); err != nil {
		t.Fatal(err)
	}
	src, err := eventlog.Open(ctx, eventlog.Config{Pool: srcPool, Schema: srcSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	rl, err := relay.New(relay.Config{Pool: srcPool, Schema: srcSchema, Area: "customers", Source: src, Redis: rdb,
		Namespace: ns, Partitions: verifyParts, PollInterval: 50 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	pool, schema := testenv.Schema(t)
	if err := consumer.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if err := kit.MigrateReplica(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	s := &replicaSystem{src: src, pool: pool, schema: schema, logger: logger,
		mapper: kit.StatusMapper("customerId", map[string]string{"CustomerRegistered": "ACTIVE", "CustomerArchived": "ARCHIVED"}, "name")}
	replica := kit.NewReplica(kit.ReplicaConfig{Pool: pool, Schema: schema, Source: "customers", Name: schema,
		Partitions: verifyParts, Mapper: s.mapper})
	// The reaction fails for one customer: its archive is parked, and the
	// replica's change rolled back with it.
	react := kit.React("CustomerArchived", func(ctx context.Context, ev eventlog.Event) error {
		if kit.DataField(ev, "customerId") == "cus_poison" {
			return errors.New("reaction refuses cus_poison")
		}
		return nil
	})
	c, err := consumer.New(consumer.Config{Name: schema, Area: "customers", Namespace: ns, Partitions: verifyParts,
		Redis: rdb, Pool: pool, Schema: schema, Source: src, Logger: logger,
		Block: 100 * time.Millisecond, LeaseTTL: 3 * time.Second, MaxAttempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Handler: consumer.HandlerFunc(func(ctx context.Context, b *consumer.Batch, ev eventlog.Event) (any, error) {
			if _, err := replica.Handler().Apply(ctx, b, ev); err != nil {
				return nil, err
			}
			return react.Apply(ctx, b, ev)
		})})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := rl.Run(rctx); err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	wg.Go(func() {
		if err := c.Run(rctx); err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })
	return s
}

func (s *replicaSystem) append(ctx context.Context, typ, id, name string) (eventlog.Event, error) {
	res, err := s.src.Append(ctx, id, eventlog.AnyVersion, eventlog.Metadata{Actor: "test"},
		eventlog.NewEvent{Type: typ, Data: fmt.Appendf(nil, `{"customerId":%q,"name":%q}`, id, name)})
	if err != nil {
		return eventlog.Event{}, err
	}
	return res.Events[0], nil
}

// settle waits until the consumer has applied (or parked) the whole log.
func (s *replicaSystem) settle(t *testing.T, ctx context.Context) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		evs, err := s.src.ReadLog(ctx, 0, eventlog.MaxReadLimit)
		if err != nil {
			return err
		}
		cps, err := consumer.Checkpoints(ctx, s.pool, s.schema, s.schema, "customers")
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if p := eventlog.Partition(ev.StreamID, verifyParts); cps[p] < ev.Position {
				return fmt.Errorf("partition %d at %d, event at %d", p, cps[p], ev.Position)
			}
		}
		return nil
	})
}

func (s *replicaSystem) verify(t *testing.T, ctx context.Context, src consumer.LogSource) verify.Result {
	t.Helper()
	if src == nil {
		src = s.src
	}
	res, err := kit.VerifyReplica(ctx, kit.ReplicaVerifyConfig{Pool: s.pool, Schema: s.schema, Source: "customers",
		Log: src, Mapper: s.mapper, Partitions: verifyParts, MaxRows: 5, Logger: s.logger})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

func TestVerifyReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startReplica(t, ctx)
	for i := range 40 {
		if _, err := s.append(ctx, "CustomerRegistered", fmt.Sprintf("cus_%d", i), fmt.Sprintf("C%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"cus_3", "cus_poison"} {
		if _, err := s.append(ctx, "CustomerRegistered", id, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.append(ctx, "CustomerArchived", id, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.settle(t, ctx)

	// Correct, with the poison archive parked: the live replica still has
	// cus_poison ACTIVE, and so must the replay.
	res := s.verify(t, ctx, nil)
	if !res.Equal() || len(res.Parked) != 1 || res.Rows() != 41 {
		t.Fatalf("verify a correct replica: equal %v, diffs %v, failed %v, parked %v, %d rows", res.Equal(), res.DiffLines(),
			res.Failed, res.Parked, res.Rows())
	}
	if res.Label != kit.ReplicaLabel(s.schema, "customers") {
		t.Errorf("label %q", res.Label)
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := s.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// A tampered name, a deleted row, an extra row: each named.
	exec(`UPDATE ` + s.schema + `.replica SET attrs = attrs || '{"name":"Tampered"}' WHERE id = 'cus_5'`)
	exec(`DELETE FROM ` + s.schema + `.replica WHERE id = 'cus_6'`)
	exec(`INSERT INTO ` + s.schema + `.replica (area, id, status, position) VALUES ('customers', 'cus_extra', 'ACTIVE', 1)`)
	// Another area's rows are not this replica's business.
	exec(`INSERT INTO ` + s.schema + `.replica (area, id, status, position) VALUES ('relationships', 'sp_1', 'ACTIVE', 1)`)
	res = s.verify(t, ctx, nil)
	got := res.DiffLines()
	want := []string{
		`replica area=customers,id=cus_5: live={"attrs":{"name":"Tampered"}} rebuilt={"attrs":{"name":"C5"}}`,
		`replica area=customers,id=cus_6: missing from live, rebuilt={`,
		`replica area=customers,id=cus_extra: extra in live, live={`,
	}
	if res.Equal() || len(got) != len(want) {
		t.Fatalf("verify a tampered replica: equal %v, diffs %q", res.Equal(), got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("diff %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	if res.Tables[0].Differing != 3 {
		t.Errorf("differing %d, want 3", res.Tables[0].Differing)
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

func TestVerifyReplicaWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startReplica(t, ctx)
	for i := range 30 {
		if _, err := s.append(ctx, "CustomerRegistered", fmt.Sprintf("cus_%d", i), "C"); err != nil {
			t.Fatal(err)
		}
	}
	s.settle(t, ctx)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var n atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond) // a steady rate, not a wait
		defer tick.Stop()
		for i := 30; wctx.Err() == nil; i++ {
			<-tick.C
			typ := "CustomerRegistered"
			if i%3 == 0 {
				typ = "CustomerArchived"
			}
			if _, err := s.append(wctx, typ, fmt.Sprintf("cus_%d", i%50), fmt.Sprint(i)); err != nil && wctx.Err() == nil {
				t.Errorf("append: %v", err)
				return
			}
			n.Add(1)
		}
	})
	defer func() { stop(); wg.Wait() }()
	for range 3 {
		// Live moves on before the replay starts: the comparing
		// transaction catches up those events.
		src := &hookSource{LogSource: s.src, hook: func() {
			start := n.Load()
			testenv.Eventually(t, 30*time.Second, func() error {
				if n.Load() < start+20 {
					return fmt.Errorf("writer slow")
				}
				return nil
			})
			s.settle(t, ctx)
		}}
		res := s.verify(t, ctx, src)
		if !res.Equal() || res.CaughtUp == 0 {
			t.Errorf("verify while writing: equal %v, caught up %d, diffs %v, failed %v", res.Equal(), res.CaughtUp, res.DiffLines(), res.Failed)
		}
	}
}
