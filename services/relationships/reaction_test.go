package relationships_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"crm/eventlog"
	"crm/eventlog/ids"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/relationships/contract"
	"crm/services/relationships/domain"
)

// dealWon builds a DealWon event as the campaigns area records it (with
// the fields this area ignores), as a consumer would hand it over.
func dealWon(t *testing.T, dealID, customerID, product string) eventlog.Event {
	t.Helper()
	data, err := json.Marshal(map[string]any{"dealId": dealID, "customerId": customerID, "campaignId": ids.New(ids.Campaign),
		"product": product, "value": map[string]string{"amount": "1250.00", "currencyCode": "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	return eventlog.Event{ID: uuid.NewString(), StreamID: dealID, Version: 2, Position: 17, Type: "DealWon", Data: data,
		Metadata: eventlog.Metadata{CorrelationID: "corr-deal", Actor: "user-3"}}
}

func TestDealWonAddsProductOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	customer := e.facts.add(domain.ActiveCustomer)
	deal := ids.New(ids.Deal)
	cause := dealWon(t, deal, customer, " Solar  panels ")
	if err := e.svc.DealWon(ctx, cause); err != nil {
		t.Fatal(err)
	}
	evs, err := e.log.ReadAllStream(ctx, customer)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != domain.TypeProductAdded {
		t.Fatalf("events %+v", evs)
	}
	m := evs[0].Metadata
	if m.CausationID != cause.ID || m.CorrelationID != "corr-deal" || m.Actor != kit.ReactionActor || m.OnBehalfOf != "user-3" ||
		m.IdempotencyKey != "reaction:"+cause.ID+":"+customer {
		t.Fatalf("metadata %+v", m)
	}
	if d := data(t, evs[0]); d["dealId"] != deal || d["product"] != "Solar panels" || fmt.Sprint(d["products"]) != "[Solar panels]" {
		t.Fatalf("data %v", d)
	}
	head := kittest.Head(t, e.log)

	// Redelivery, also concurrent, records nothing new.
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.svc.DealWon(ctx, cause); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Another event about the same deal (a re-recorded fact) neither.
	if err := e.svc.DealWon(ctx, dealWon(t, deal, customer, "Solar panels")); err != nil {
		t.Fatal(err)
	}
	if after := kittest.Head(t, e.log); after != head {
		t.Fatalf("replays recorded %d events", after-head)
	}

	// A second deal for the same product is recorded, the product listed once;
	// a third with another product joins the list.
	if err := e.svc.DealWon(ctx, dealWon(t, ids.New(ids.Deal), customer, "SOLAR PANELS")); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DealWon(ctx, dealWon(t, ids.New(ids.Deal), customer, "Heat pump")); err != nil {
		t.Fatal(err)
	}
	if evs, err = e.log.ReadAllStream(ctx, customer); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || fmt.Sprint(data(t, evs[2])["products"]) != "[Solar panels Heat pump]" {
		t.Fatalf("events %d, last %s", len(evs), evs[len(evs)-1].Data)
	}
}

func TestDealWonNeedsNoCustomerFact(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The replica has not heard of the customer yet, or the customer was
	// archived since: the deal was won all the same.
	for _, customer := range []string{ids.New(ids.Customer), e.facts.add(domain.ArchivedCustomer)} {
		if err := e.svc.DealWon(context.Background(), dealWon(t, ids.New(ids.Deal), customer, "Boat")); err != nil {
			t.Fatal(err)
		}
	}
	if head := kittest.Head(t, e.log); head != 2 {
		t.Fatalf("log holds %d events, want 2", head)
	}
}

func TestDealWonRefusesBadCauses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := e.facts.add(domain.ActiveCustomer)
	deal := ids.New(ids.Deal)
	lost := dealWon(t, deal, customer, "Boat")
	lost.Type = "DealLost"
	garbage := dealWon(t, deal, customer, "Boat")
	garbage.Data = json.RawMessage(`{"dealId": 7}`)
	for name, cause := range map[string]eventlog.Event{
		"other type":         lost,
		"not DealWon JSON":   garbage,
		"malformed deal":     dealWon(t, "deal_1", customer, "Boat"),
		"customer id kind":   dealWon(t, deal, ids.New(ids.Salesperson), "Boat"),
		"missing customer":   dealWon(t, deal, "", "Boat"),
		"empty product":      dealWon(t, deal, customer, "  "),
		"email claim stream": dealWon(t, deal, contract.EmailClaimStreamID("a@example.com"), "Boat"),
	} {
		if err := e.svc.DealWon(context.Background(), cause); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if head := kittest.Head(t, e.log); head != 0 {
		t.Fatalf("bad causes recorded %d events", head)
	}
}
