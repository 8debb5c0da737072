package live

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crm/eventlog/testenv"
)

func TestFanOutAndCleanup(t *testing.T) {
	t.Parallel()
	rdb, ns := testenv.Redis(t)
	h := NewHub(rdb, ns+":changes", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)

	subCtx, unsub := context.WithCancel(ctx)
	mine := h.Subscribe(subCtx, func(c Change) bool { return c.Kind == "Customer" && c.ID == "cus_1" })
	all := h.Subscribe(ctx, func(c Change) bool { return true })
	msg, _ := json.Marshal([]Announcement{{Projection: "customers", Area: "customers", Positions: []PartitionPosition{{Partition: 1, Position: 7}},
		Changes: []Change{{Kind: "Customer", ID: "cus_2"}, {Kind: "Customer", ID: "cus_1"}}}})
	// The subscription to Redis is asynchronous: publish until received.
	testenv.Eventually(t, 10*time.Second, func() error {
		rdb.Publish(ctx, ns+":changes", msg)
		select {
		case c := <-mine:
			if c.ID != "cus_1" {
				return fmt.Errorf("got %s", c.ID)
			}
			return nil
		case <-time.After(50 * time.Millisecond):
			return fmt.Errorf("nothing yet")
		}
	})
	select {
	case c := <-all:
		if c.ID != "cus_2" {
			t.Fatalf("unfiltered subscriber got %s first", c.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unfiltered subscriber got nothing")
	}
	unsub()
	testenv.Eventually(t, 5*time.Second, func() error {
		if n := h.Subscribers(); n != 1 {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
}

// Subscribers of one change share one read of the row.
func TestSharedLoadsOncePerChange(t *testing.T) {
	t.Parallel()
	s := NewShared()
	var calls atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.Load(Change{Kind: "Customer", ID: "cus_1", At: "customers/customers/3/42"}, func() (any, error) {
				calls.Add(1)
				return "row", nil
			})
			if v != "row" || err != nil {
				t.Errorf("got %v, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d reads for one change", calls.Load())
	}
	s.Load(Change{Kind: "Customer", ID: "cus_1", At: "customers/customers/3/43"}, func() (any, error) { calls.Add(1); return nil, nil })
	if calls.Load() != 2 {
		t.Fatal("a later change did not read again")
	}
}

// An announcement settles a read-your-writes wait without reading the
// checkpoint; without announcements the checkpoint check settles it.
func TestWaitApplied(t *testing.T) {
	t.Parallel()
	h := NewHub(nil, "unused", nil)
	p := Partition{Projection: "customers", Area: "customers", Partition: 3}
	var checks atomic.Int64
	never := func(context.Context) (bool, error) { checks.Add(1); return false, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() { done <- h.WaitApplied(ctx, p, 42, time.Hour, never) }()
	h.publish(Announcement{Projection: "customers", Area: "customers", Positions: []PartitionPosition{{Partition: 3, Position: 41}}})
	h.publish(Announcement{Projection: "customers", Area: "other", Positions: []PartitionPosition{{Partition: 3, Position: 50}}})
	select {
	case err := <-done:
		t.Fatalf("settled early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	h.publish(Announcement{Projection: "customers", Area: "customers", Positions: []PartitionPosition{{Partition: 3, Position: 43}}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if checks.Load() != 0 {
		t.Fatalf("%d checkpoint checks", checks.Load())
	}
	// Already announced: returns at once.
	if err := h.WaitApplied(ctx, p, 43, time.Hour, never); err != nil {
		t.Fatal(err)
	}

	// No announcement: the check runs and settles it.
	var n atomic.Int64
	later := func(context.Context) (bool, error) { return n.Add(1) >= 3, nil }
	if err := h.WaitApplied(ctx, Partition{"customers", "customers", 4}, 1, 5*time.Millisecond, later); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d checks", n.Load())
	}
	// The context bounds it.
	short, cancelShort := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancelShort()
	if err := h.WaitApplied(short, Partition{"customers", "customers", 5}, 1, 5*time.Millisecond, never); err != context.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
}
