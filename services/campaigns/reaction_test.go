package campaigns_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/uuid"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/eventlog/testenv"
	"crm/services/campaigns"
	"crm/services/campaigns/domain"
	"crm/services/kit"
	"crm/services/kit/kittest"
)

func archivedEvent(customerID string) eventlog.Event {
	return eventlog.Event{ID: uuid.NewString(), StreamID: customerID, Version: 3, Position: 40, Type: "CustomerArchived",
		Data: json.RawMessage(`{"customerId":"` + customerID + `"}`),
		Metadata: eventlog.Metadata{CorrelationID: "corr-archive", IdempotencyKey: "archive-customer:k", Actor: "user-5",
			TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
}

func TestCustomerArchivedLosesOpenDeals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	customer, other := ids.New(ids.Customer), ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	e.facts.set(other, domain.CustomerActive)
	open1, open2, won := e.openDeal(t, customer), e.openDeal(t, customer), e.openDeal(t, customer)
	kittest.Post(t, e.h, "win-deal", map[string]any{"id": won}).OK(t)
	othersDeal := e.openDeal(t, other)

	cause := archivedEvent(customer)
	before := kittest.Head(t, e.l)
	if err := e.svc.CustomerArchived(ctx, customer, cause); err != nil {
		t.Fatal(err)
	}
	evs := e.eventsAfter(t, before)
	if len(evs) != 2 {
		t.Fatalf("the reaction recorded %d events, want 2", len(evs))
	}
	lost := map[string]bool{}
	for _, ev := range evs {
		var d domain.DealLost
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		m := ev.Metadata
		if ev.Type != domain.TypeDealLost || d.Reason != "customer archived" || d.CustomerID != customer ||
			m.CausationID != cause.ID || m.CorrelationID != "corr-archive" || m.TraceParent != cause.Metadata.TraceParent ||
			m.IdempotencyKey != "reaction:"+cause.ID+":"+ev.StreamID || m.Actor != kit.ReactionActor || m.OnBehalfOf != "user-5" {
			t.Fatalf("reaction event %+v %s", ev, ev.Data)
		}
		lost[ev.StreamID] = true
		// The key is recorded: a repeat of this append records nothing.
		if res, ok, err := e.l.Lookup(ctx, m.IdempotencyKey); err != nil || !ok || len(res.Events) != 1 || res.Events[0].ID != ev.ID {
			t.Fatalf("lookup of %s: %+v %v %v", m.IdempotencyKey, res, ok, err)
		}
	}
	if !lost[open1] || !lost[open2] {
		t.Fatalf("lost %v, want %s and %s", lost, open1, open2)
	}
	for deal, want := range map[string]string{open1: "LOST", open2: "LOST", won: "WON", othersDeal: "OPEN"} {
		if got := e.stage(t, deal); got != want {
			t.Errorf("deal %s is %s in the index, want %s", deal, got, want)
		}
	}

	// Redelivery, also many at once, records nothing new.
	head := kittest.Head(t, e.l)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.svc.CustomerArchived(ctx, customer, cause); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if after := kittest.Head(t, e.l); after != head {
		t.Fatalf("redelivery recorded %d events", after-head)
	}
	// A customer without deals: nothing to do.
	if err := e.svc.CustomerArchived(ctx, ids.New(ids.Customer), archivedEvent(customer)); err != nil {
		t.Fatal(err)
	}
	if after := kittest.Head(t, e.l); after != head {
		t.Fatalf("a customer without deals recorded %d events", after-head)
	}
}

// The first deliveries of one cause racing each other lose each deal once.
func TestCustomerArchivedConcurrentDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	customer := ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	const deals = 5
	for range deals {
		e.openDeal(t, customer)
	}
	cause := archivedEvent(customer)
	before := kittest.Head(t, e.l)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.svc.CustomerArchived(ctx, customer, cause); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs := e.eventsAfter(t, before)
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Type != domain.TypeDealLost || seen[ev.StreamID] {
			t.Fatalf("unexpected %s of %s", ev.Type, ev.StreamID)
		}
		seen[ev.StreamID] = true
	}
	if len(seen) != deals {
		t.Fatalf("%d deals lost, want %d", len(seen), deals)
	}
}

func TestCustomerArchivedRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.CustomerArchived(ctx, "cus_nope", archivedEvent("cus_nope")); errcode.CodeOf(err) != errcode.BadUserInput {
		t.Fatalf("malformed customer id: %v", err)
	}
	customer := ids.New(ids.Customer)
	if err := e.svc.CustomerArchived(ctx, customer, eventlog.Event{}); errcode.CodeOf(err) != errcode.BadUserInput {
		t.Fatalf("cause without id: %v", err)
	}
}

// Migrate fills the deal index from a log written without it.
func TestDealIndexBackfill(t *testing.T) {
	t.Parallel()
	pool, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	e := newEnvOn(t, l, pool, schema)
	customer := ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	open, won, lost := e.openDeal(t, customer), e.openDeal(t, customer), e.openDeal(t, customer)
	kittest.Post(t, e.h, "win-deal", map[string]any{"id": won}).OK(t)
	kittest.Post(t, e.h, "lose-deal", map[string]any{"id": lost, "reason": "r"}).OK(t)
	e.activeCampaign(t, "P")

	for range 2 { // idempotent
		if err := campaigns.Migrate(ctx, pool, schema); err != nil {
			t.Fatal(err)
		}
	}
	for deal, want := range map[string]string{open: "OPEN", won: "WON", lost: "LOST"} {
		if got := e.stage(t, deal); got != want {
			t.Errorf("deal %s is %s in the index, want %s", deal, got, want)
		}
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".deal_index").Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("index holds %d rows (%v), want 3", rows, err)
	}
}

func TestInlineStatements(t *testing.T) {
	t.Parallel()
	deal := ids.New(ids.Deal)
	opened := eventlog.Event{ID: uuid.NewString(), StreamID: deal, Type: domain.TypeDealOpened, Position: 1,
		Data: json.RawMessage(`{"dealId":"` + deal + `","customerId":"cus_1"}`)}
	won := eventlog.Event{ID: uuid.NewString(), StreamID: deal, Type: domain.TypeDealWon, Position: 2, Data: json.RawMessage(`{}`)}
	campaign := eventlog.Event{ID: uuid.NewString(), StreamID: ids.New(ids.Campaign), Type: domain.TypeCampaignCreated, Data: json.RawMessage(`{}`)}

	sts, err := campaigns.Inline("crm_campaigns")([]eventlog.Event{campaign, opened, won})
	if err != nil || len(sts) != 2 {
		t.Fatalf("statements %+v, err %v", sts, err)
	}
	if got := sts[1].Args[1].([]string); len(got) != 1 || got[0] != "WON" {
		t.Fatalf("update args %+v", sts[1].Args)
	}
	if sts, err := campaigns.Inline("crm_campaigns")([]eventlog.Event{campaign}); err != nil || len(sts) != 0 {
		t.Fatalf("campaign events need no statement: %+v %v", sts, err)
	}
	bad := opened
	bad.Data = json.RawMessage(`{"dealId":"x"}`)
	if _, err := campaigns.Inline("crm_campaigns")([]eventlog.Event{bad}); err == nil {
		t.Fatal("a DealOpened without customerId was indexed")
	}
	if _, err := campaigns.Inline("bad schema")([]eventlog.Event{opened}); err == nil {
		t.Fatal("an invalid schema was accepted")
	}
}
