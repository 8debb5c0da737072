package kit_test

import (
	"context"
	"testing"
	"time"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/testenv"
	"crm/services/kit"
	"crm/services/wire"
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
	s := testenv.NewCutPool(t, admin)
	// Each commit of a Slow event sleeps just before COMMIT.
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: s.Pool, Schema: schema,
		Inline: func(evs []eventlog.Event) ([]eventlog.Statement, error) {
			return []eventlog.Statement{{SQL: "SELECT pg_sleep(1)"}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	x := &kit.Executor{Area: "test", Log: l, ResolveWait: 15 * time.Second}
	run := func(stream, key string) (wire.Result, error) {
		cut := cutWhenSleeping(t, s)
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

// cutWhenSleeping, in the background: waits until a session of the pool
// sleeps in pg_sleep, cuts it off, waits until the server has finished
// (committed) and lets the pool reach the server again. The channel
// closes when it is done.
func cutWhenSleeping(t *testing.T, s *testenv.CutPool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pid, err := s.Sleeping()
		if err == nil {
			err = s.Cut(pid)
		}
		if err == nil {
			err = s.IdleThenClose(pid)
		}
		if err != nil {
			t.Error(err)
		}
	}()
	return done
}
