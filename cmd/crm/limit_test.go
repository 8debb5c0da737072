package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"crm/eventlog/testenv"
	"crm/graph/gateway"
)

// TestLimits checks the per-user limits on the real binary: mutations over
// the rate are refused with RATE_LIMITED and a retryAfter and record
// nothing; costly queries drain the user's points, not another user's; a
// third WebSocket is closed with 4429 and no ack; a fourth subscription is
// refused.
func TestLimits(t *testing.T) {
	s, _ := startDev(t, "CRM_RATE_MUTATIONS=2", "CRM_RATE_QUERY_POINTS=100", "CRM_MAX_SOCKETS_PER_USER=2", "CRM_MAX_SUBSCRIPTIONS_PER_USER=3")

	ok, limited := 0, 0
	for i := range 8 {
		r := s.gql(t, fmt.Sprintf(`mutation { registerCustomer(input: {name: "C%d", email: "c%d@example.com"}) { id } }`, i, i), nil)
		switch {
		case len(r.Errors) == 0:
			ok++
		case r.Errors[0].Extensions["code"] == "RATE_LIMITED":
			if ra, _ := r.Errors[0].Extensions["retryAfter"].(float64); ra < 1 {
				t.Errorf("retryAfter %v", r.Errors[0].Extensions["retryAfter"])
			}
			limited++
		default:
			t.Fatalf("mutation %d: %+v", i, r.Errors)
		}
	}
	if ok < 4 || limited == 0 {
		t.Errorf("8 quick mutations at 2/s (bursts of 4): %d ok, %d refused", ok, limited)
	}
	var count struct{ TotalCount int }
	s.gql(t, `{ customers { totalCount } }`, nil).ok(t, "customers", &count)
	if count.TotalCount != ok {
		t.Errorf("%d customers after %d accepted mutations", count.TotalCount, ok)
	}

	// Points: a page of 100 rows costs ~400; the burst is the complexity
	// limit (2000). Another user's bucket is untouched.
	const costly = `{ customers(first: 100) { edges { node { id name status } } } }`
	refusedAt := 0
	for i := 1; i <= 10 && refusedAt == 0; i++ {
		if r := s.gql(t, costly, nil); len(r.Errors) > 0 && r.Errors[0].Extensions["code"] == "RATE_LIMITED" {
			refusedAt = i
		}
	}
	if refusedAt == 0 {
		t.Error("10 costly queries in a row were all answered")
	}
	viewer := &system{url: s.url, token: devTokenFor(t, s, "viewer", 0)}
	if r := viewer.gql(t, `{ customers(first: 100) { totalCount } }`, nil); len(r.Errors) > 0 && r.Errors[0].Extensions["code"] == "RATE_LIMITED" {
		t.Errorf("another user was refused: %+v", r.Errors)
	}

	// Sockets and subscriptions, as the viewer: the admin's query points
	// are spent.
	a, b := dialWS(t, viewer, false), dialWS(t, viewer, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := openWS(ctx, viewer, "graphql-transport-ws"); err == nil || !strings.Contains(err.Error(), fmt.Sprint(gateway.CloseTooManyConnections)) {
		t.Errorf("third socket: %v", err)
	}
	for i := 1; i <= 3; i++ {
		a.subscribe(t, fmt.Sprint(i), `subscription { customerChanged { id } }`)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := subscriptions(t, s); n != 3 {
			return fmt.Errorf("%d subscriptions", n)
		}
		return nil
	})
	b.subscribe(t, "4", `subscription { customerChanged { id } }`)
	m := b.read(t)
	if m["type"] != "next" && m["type"] != "error" || !strings.Contains(fmt.Sprint(m["payload"]), "RATE_LIMITED") {
		t.Errorf("fourth subscription: %v", m)
	}
	// Closing a socket gives its subscriptions and its place back.
	a.c.CloseNow()
	testenv.Eventually(t, 10*time.Second, func() error {
		c, err := openWS(ctx, viewer, "graphql-transport-ws")
		if err != nil {
			return fmt.Errorf("socket after one closed: %w", err)
		}
		c.CloseNow()
		return nil
	})
}
