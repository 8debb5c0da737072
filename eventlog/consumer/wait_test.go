package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

// A partition that receives no event still reports the area's log applied
// up to what the relay had copied once its stream is drained, so a reader
// waiting for "the log up to P" on it is not kept waiting for an event that
// never comes; and nobody is told a position is applied before it is.
func TestWaitAppliedCoversIdlePartitions(t *testing.T) {
	t.Parallel()
	rdb, ns := testenv.Redis(t)
	a, s := newArea(t), newSink(t)
	startRelay(t, a, rdb, ns)
	startConsumer(t, testConfig(t, s, a, rdb, ns), nil)

	var last eventlog.Event
	for i := 0; i < 30; i++ {
		last = a.appendOne(t, "busy")
	}
	busy := eventlog.Partition("busy", testParts)
	idle := (busy + 1) % testParts
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	plain := Waiter{Pool: s.pool, Schema: s.schema, Name: testName, Area: testArea}
	withRedis := plain
	withRedis.Redis, withRedis.Namespace = rdb, ns
	if err := plain.Wait(ctx, busy, last.Position); err != nil {
		t.Fatalf("busy partition: %v", err)
	}
	if s.count(t) != 30 {
		t.Fatalf("WaitApplied returned with %d of 30 events applied", s.count(t))
	}
	for _, w := range []Waiter{plain, withRedis} {
		if err := w.Wait(ctx, idle, last.Position); err != nil {
			t.Fatalf("idle partition: %v", err)
		}
		short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := w.Wait(short, idle, last.Position+1)
		cancel2()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait beyond the log's head = %v, want deadline exceeded", err)
		}
	}
	// With Redis, a wait on a partition whose stream is applied does not
	// depend on the through mark: a position just relayed for another
	// partition is covered at once.
	other := a.appendOne(t, "busy")
	if err := withRedis.Wait(ctx, busy, other.Position); err != nil {
		t.Fatal(err)
	}
}
