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
	msg, _ := json.Marshal(Announcement{Projection: "customers", Area: "customers", Partition: 1, Position: 7,
		Changes: []Change{{Kind: "Customer", ID: "cus_2"}, {Kind: "Customer", ID: "cus_1"}}})
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
