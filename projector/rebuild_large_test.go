package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crm/eventlog"
	"crm/eventlog/testenv"
	apt "crm/services/appointments/contract"
	cmp "crm/services/campaigns/contract"
	cus "crm/services/customers/contract"
	rel "crm/services/relationships/contract"
)

// The large history: largeCustomers customers of ten events each over the
// four areas (see largeHistory), 100,000 events in all, appended in calls
// of largeBlock customers.
const (
	largeCustomers    = 10_000
	largeBlock        = 250
	largeSalespeople  = 20
	largeWriterPeriod = 100 * time.Millisecond
)

// largeProjections are the projections the large test runs live, rebuilds
// and compares: customers, fed by all four areas, whose Apply does every
// kind of write the projections do (upserts, per-customer locks, a private
// table, aggregates recomputed from it), and events, fed by all four areas
// too, written with one set-based statement per batch (Batch.Rows). The
// other three are rebuilt while writing at a smaller scale by
// TestRebuildWhileWriting; with them here (All()) the test took 1.5 to 2
// times as long (docs/projector.md).
var largeProjections = []Projection{Customers{}, Events{}}

// largeCampaign is the campaign of customer k's deal: ten customers
// each, so that recomputing a campaign's totals stays cheap.
func largeCampaign(k int) string { return fmt.Sprintf("camp_%d", k%largeCustomers/10) }

// largeStart is when appointment k starts: far enough ahead that no
// appointment starts during the test, so the customers' upcoming counts
// (computed against the clock) do not depend on when an event is applied.
func largeStart(k, shift int) time.Time {
	return rbFuture.Add(time.Duration(k%1000)*time.Hour + time.Duration(shift)*time.Minute)
}

// largeHistory is customer k's history in area, in stream order, using
// every event type the projections treat differently: in customers a
// registration and three updates; in relationships an account team and
// interests; in appointments a scheduled appointment, then rescheduled
// (even k) or cancelled (odd k); in campaigns a deal opened, then won or
// lost.
func largeHistory(area string, k int) []domainEvent {
	id := cusID(k)
	sp := fmt.Sprintf("sp_%d", k%largeSalespeople)
	switch area {
	case AreaCustomers:
		evs := []domainEvent{cus.CustomerRegistered{CustomerID: id, Name: fmt.Sprintf("Customer %d", k),
			Email: fmt.Sprintf("c%d@example.com", k), Phone: "+44207" + fmt.Sprint(1000000+k),
			Address:      &cus.Address{Street: fmt.Sprintf("%d High Street", k), City: "London", PostalCode: "SW1A 1AA", Country: "GB"},
			RegisteredAt: rbNow()}}
		for v := 2; v <= 4; v++ {
			evs = append(evs, cus.CustomerUpdated{CustomerID: id, Name: fmt.Sprintf("Customer %d v%d", k, v),
				Email: fmt.Sprintf("c%d@example.com", k), Changed: []string{"name"}, UpdatedAt: rbNow()})
		}
		return evs
	case AreaRelationships:
		return []domainEvent{
			rel.AccountTeamAssigned{CustomerID: id, SalesRepID: sp, ManagerID: "sp_0", AssignedAt: rbNow()},
			rel.InterestRecorded{CustomerID: id, Interest: "golf", Interests: []string{"golf", fmt.Sprint(k % 7)}, RecordedAt: rbNow()},
		}
	case AreaAppointments:
		a := apt.AppointmentScheduled{AppointmentID: fmt.Sprintf("apt_%d", k), CustomerID: id, SalespersonID: sp,
			StartsAt: largeStart(k, 0), EndsAt: largeStart(k, 60), Location: "London"}
		if k%2 == 0 {
			return []domainEvent{a, apt.AppointmentRescheduled{AppointmentID: a.AppointmentID, CustomerID: id, SalespersonID: sp,
				StartsAt: largeStart(k, 30), EndsAt: largeStart(k, 90), Location: "Leeds",
				PreviousStartsAt: a.StartsAt, PreviousEndsAt: a.EndsAt}}
		}
		return []domainEvent{a, apt.AppointmentCancelled{AppointmentID: a.AppointmentID, CustomerID: id, SalespersonID: sp,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, Reason: "busy"}}
	default: // AreaCampaigns
		open := cmp.DealOpened{DealID: fmt.Sprintf("deal_%d", k), CustomerID: id, CampaignID: largeCampaign(k),
			SalesRepID: sp, Product: "Yacht", Value: cmp.Money{Amount: fmt.Sprintf("%d.50", 100+k%900), CurrencyCode: "EUR"}}
		if k%3 == 0 {
			return []domainEvent{open, cmp.DealLost{DealID: open.DealID, CustomerID: id, CampaignID: open.CampaignID,
				SalesRepID: sp, Product: open.Product, Value: open.Value, Reason: "price"}}
		}
		return []domainEvent{open, cmp.DealWon{DealID: open.DealID, CustomerID: id, CampaignID: open.CampaignID,
			SalesRepID: sp, Product: open.Product, Value: open.Value}}
	}
}

// largeRevision is the i-th later change of an existing customer k in
// area, for the writers: each one replaces what the history left, so a
// revision applied twice out of order, or not at all, shows in the rows.
func largeRevision(area string, k, i int) domainEvent {
	id := cusID(k)
	switch area {
	case AreaCustomers:
		return cus.CustomerUpdated{CustomerID: id, Name: fmt.Sprintf("Customer %d w%d", k, i),
			Email: fmt.Sprintf("c%d@example.com", k), Changed: []string{"name"}, UpdatedAt: rbNow()}
	case AreaRelationships:
		if i%2 == 0 {
			return rel.AccountTeamAssigned{CustomerID: id, SalesRepID: fmt.Sprintf("sp_%d", i%largeSalespeople), AssignedAt: rbNow()}
		}
		return rel.InterestRecorded{CustomerID: id, Interest: "sailing", Interests: []string{"sailing", fmt.Sprint(i)}, RecordedAt: rbNow()}
	case AreaAppointments:
		return apt.AppointmentRescheduled{AppointmentID: fmt.Sprintf("apt_%d", k), CustomerID: id, SalespersonID: fmt.Sprintf("sp_%d", k%largeSalespeople),
			StartsAt: largeStart(k, i%600), EndsAt: largeStart(k, i%600+60), Location: fmt.Sprintf("Room %d", i),
			PreviousStartsAt: largeStart(k, 0), PreviousEndsAt: largeStart(k, 60)}
	default: // AreaCampaigns
		v := cmp.Money{Amount: fmt.Sprintf("%d.25", i), CurrencyCode: "EUR"}
		d := fmt.Sprintf("deal_%d", k)
		if i%2 == 0 {
			return cmp.DealWon{DealID: d, CustomerID: id, CampaignID: largeCampaign(k), Product: "Yacht", Value: v}
		}
		return cmp.DealLost{DealID: d, CustomerID: id, CampaignID: largeCampaign(k), Product: "Yacht", Value: v, Reason: "late"}
	}
}

// largeOpening is what an area's log starts with: the salespeople and the
// campaigns the histories refer to.
func largeOpening(area string) []domainEvent {
	var evs []domainEvent
	switch area {
	case AreaRelationships:
		for i := range largeSalespeople {
			evs = append(evs, rel.SalespersonRegistered{SalespersonID: fmt.Sprintf("sp_%d", i), Name: fmt.Sprintf("S%d", i),
				Email: fmt.Sprintf("s%d@example.com", i), Role: rel.RoleSalesRep, RegisteredAt: rbNow()})
		}
	case AreaCampaigns:
		for k := 0; k < largeCustomers; k += 10 {
			evs = append(evs, cmp.CampaignCreated{CampaignID: largeCampaign(k), Name: fmt.Sprintf("Campaign %d", k/10)})
		}
	}
	return evs
}

// appendBatch appends evs to l in one call, one StreamAppend per stream
// (each stream's events in the order given), and returns how many it
// appended.
func appendBatch(ctx context.Context, l *eventlog.Log, evs []domainEvent) (int, error) {
	var appends []eventlog.StreamAppend
	at := map[string]int{}
	for _, e := range evs {
		data, err := json.Marshal(e)
		if err != nil {
			return 0, err
		}
		i, ok := at[e.StreamID()]
		if !ok {
			i = len(appends)
			at[e.StreamID()] = i
			appends = append(appends, eventlog.StreamAppend{StreamID: e.StreamID(), ExpectedVersion: eventlog.AnyVersion})
		}
		appends[i].Events = append(appends[i].Events, eventlog.NewEvent{Type: e.EventType(), Data: data})
	}
	if len(appends) == 0 {
		return 0, nil
	}
	if _, err := l.AppendMulti(ctx, eventlog.Metadata{Actor: "test"}, appends...); err != nil {
		return 0, err
	}
	return len(evs), nil
}

// TestRebuildEqualsLiveAt100k rebuilds the customers and events
// projections from logs of 100,000 events while a live Runner follows them
// and writers keep appending, then checks that the live tables equal a
// from-scratch replay of the logs, row for row. It catches a rebuild
// (replay, switch, or the switch's catch-up) that loses an event: a row
// missing or stale, an events row short of its log head, a customer
// version behind its stream. And one that applies an event again after a
// newer event of its stream (a page replayed twice, a checkpoint set back
// across the switch): every customer is revised several times and the
// writers revise them again during the rebuild, so the old event reverts
// the row's name, version or totals. (A duplicate applied in log order
// leaves no trace, by design: every Apply is idempotent in order.)
func TestRebuildEqualsLiveAt100k(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now()
	s := newLive(t, ctx, largeProjections...)

	// The history, an area per goroutine, largeBlock customers per append.
	var seeded atomic.Int64
	var wg sync.WaitGroup
	for _, area := range logAreas {
		wg.Go(func() {
			n, err := appendBatch(ctx, s.areas[area].log, largeOpening(area))
			seeded.Add(int64(n))
			for k := 0; k < largeCustomers && err == nil; k += largeBlock {
				var evs []domainEvent
				for c := k; c < k+largeBlock; c++ {
					evs = append(evs, largeHistory(area, c)...)
				}
				n, err = appendBatch(ctx, s.areas[area].log, evs)
				seeded.Add(int64(n))
			}
			if err != nil {
				t.Errorf("seed %s: %v", area, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := seeded.Load(); n < 100_000 {
		t.Fatalf("seeded %d events", n)
	}
	t.Logf("%d events appended in %s", seeded.Load(), time.Since(start).Round(time.Millisecond))
	// The Runner starts on the whole history: it catches up from the logs,
	// a page per batch, as after a deployment or a lost Redis.
	phase := time.Now()
	s.run(t, ctx)
	s.settleWithin(t, ctx, 3*time.Minute)
	t.Logf("live runner caught up in %s", time.Since(phase).Round(time.Millisecond))

	// Writers: per area, every largeWriterPeriod, one append of a new
	// customer's history and a revision of an existing customer.
	var appended atomic.Int64
	wctx, stopWriters := context.WithCancel(ctx)
	t.Cleanup(stopWriters)
	var writers sync.WaitGroup
	for n, area := range logAreas {
		writers.Go(func() {
			rnd := rand.New(rand.NewPCG(3, uint64(n)))
			tick := time.NewTicker(largeWriterPeriod) // a steady rate, not a wait for a condition
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
				evs := append(largeHistory(area, largeCustomers+i), largeRevision(area, rnd.IntN(largeCustomers), i))
				n, err := appendBatch(wctx, s.areas[area].log, evs)
				if err != nil {
					if wctx.Err() == nil {
						t.Errorf("append %s: %v", area, err)
					}
					return
				}
				appended.Add(int64(n))
			}
		})
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := appended.Load(); n < 40 {
			return fmt.Errorf("%d events appended by the writers", n)
		}
		return nil
	})

	// Rebuild each projection, one after the other, while writes go on.
	var during, caughtUp int64
	for _, p := range largeProjections {
		phase, before := time.Now(), appended.Load()
		st, err := Rebuild(ctx, RebuildConfig{Pool: s.db.pool, Schema: s.db.schema, Projection: p, Sources: s.sources,
			Partitions: testParts, Logger: s.logger})
		if err != nil {
			t.Fatalf("rebuild %s: %v", p.Name(), err)
		}
		t.Logf("rebuild %s in %s: replayed %d, caught up %d in the switch; %d events appended meanwhile", p.Name(),
			time.Since(phase).Round(time.Millisecond), st.Replayed, st.CaughtUp, appended.Load()-before)
		during += appended.Load() - before
		caughtUp += st.CaughtUp
		if len(st.Skipped) != 0 {
			t.Errorf("rebuild %s skipped %v", p.Name(), st.Skipped)
		}
		if p.Name() == "customers" && st.Replayed < 100_000 {
			t.Errorf("rebuild customers replayed %d events", st.Replayed)
		}
	}
	if during == 0 || caughtUp == 0 {
		t.Errorf("%d events appended during the rebuilds, %d caught up in switches", during, caughtUp)
	}
	stopWriters()
	writers.Wait()
	phase = time.Now()
	s.settleWithin(t, ctx, time.Minute)
	t.Logf("%d events appended by the writers; live runner at lag 0 %s after", appended.Load(),
		time.Since(phase).Round(time.Millisecond))

	// A from-scratch replay of every log into a fresh schema equals the
	// live tables row for row, and no event was lost or applied twice.
	phase = time.Now()
	fresh, versions := replayFresh(t, ctx, s.areas, largeProjections)
	t.Logf("fresh replay in %s", time.Since(phase).Round(time.Millisecond))
	exp := sameRows(t, s.db, fresh, largeProjections)
	if len(exp["customers"]) < largeCustomers || len(exp["events"]) < 100_000 {
		t.Errorf("too little data to prove anything: %d customers, %d events", len(exp["customers"]), len(exp["events"]))
	}
	appliedOnce(t, ctx, s.db, s.areas, versions)
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}
