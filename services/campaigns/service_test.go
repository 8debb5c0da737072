package campaigns_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/campaigns/domain"
	"crm/services/kit/kittest"
	"crm/services/wire"
)

func TestCampaignAndDealLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now()
	created := kittest.PostAs(t, e.h, "user-7", "create-campaign", map[string]any{
		"name": "  Spring  sale ", "startsAt": rfc3339(now.Add(-time.Hour)), "endsAt": rfc3339(now.Add(30 * 24 * time.Hour)),
	}, wire.HeaderCorrelationID, "corr-1").OK(t)
	if !ids.Valid(ids.Campaign, created.StreamID) || created.Version != 1 || created.Area != "campaigns" || created.Position != 1 {
		t.Fatalf("create %+v", created)
	}
	ev := created.Events[0]
	if ev.Type != domain.TypeCampaignCreated || ev.Metadata.CorrelationID != "corr-1" || ev.Metadata.Actor != "user-7" ||
		!strings.Contains(string(ev.Data), `"name":"Spring  sale"`) {
		t.Fatalf("event %+v %s", ev, ev.Data)
	}
	cmp := created.StreamID

	added := kittest.Post(t, e.h, "add-offer", map[string]any{"campaignId": cmp, "product": " Solar Panel ",
		"discountPercent": 10, "validUntil": rfc3339(now.Add(7 * 24 * time.Hour))}).OK(t)
	if added.StreamID != cmp || added.Version != 2 {
		t.Fatalf("add-offer %+v", added)
	}
	off := offerID(t, added)
	if !ids.Valid(ids.Offer, off) {
		t.Fatalf("offer id %q", off)
	}
	if l := kittest.Post(t, e.h, "launch-campaign", map[string]any{"id": cmp, "expectedVersion": 2}).OK(t); l.Version != 3 {
		t.Fatalf("launch %+v", l)
	}

	customer := ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	rep := ids.New(ids.Salesperson)
	opened := kittest.Post(t, e.h, "open-deal", map[string]any{"customerId": customer, "campaignId": cmp, "offerId": off,
		"salesRepId": rep, "product": "solar panel", "value": map[string]string{"amount": "1250.5", "currencyCode": "eur"}},
		wire.HeaderConsistencyToken, "customers:7").OK(t)
	if !ids.Valid(ids.Deal, opened.StreamID) || opened.Version != 1 {
		t.Fatalf("open-deal %+v", opened)
	}
	if tok := e.facts.token(); tok["customers"] != 7 {
		t.Fatalf("the replica was asked with token %v", tok)
	}
	var dealData domain.DealOpened
	if err := json.Unmarshal(opened.Events[0].Data, &dealData); err != nil {
		t.Fatal(err)
	}
	want := domain.DealOpened{DealID: opened.StreamID, CustomerID: customer, CampaignID: cmp, OfferID: off, SalesRepID: rep,
		Product: "Solar Panel", Value: domain.Money{Amount: "1250.50", CurrencyCode: "EUR"}}
	if dealData != want {
		t.Fatalf("DealOpened %+v, want %+v", dealData, want)
	}
	deal := opened.StreamID
	if s := e.stage(t, deal); s != "OPEN" {
		t.Fatalf("index stage %s", s)
	}

	won := kittest.Post(t, e.h, "win-deal", map[string]any{"id": deal, "expectedVersion": 1}).OK(t)
	if won.Version != 2 || won.Events[0].Type != domain.TypeDealWon {
		t.Fatalf("win %+v", won)
	}
	if s := e.stage(t, deal); s != "WON" {
		t.Fatalf("index stage %s after win", s)
	}

	other := e.openDeal(t, customer)
	lost := kittest.Post(t, e.h, "lose-deal", map[string]any{"id": other, "reason": " budget cut "}).OK(t)
	if lost.Version != 2 || lost.Events[0].Type != domain.TypeDealLost || !strings.Contains(string(lost.Events[0].Data), `"reason":"budget cut"`) {
		t.Fatalf("lose %+v %s", lost, lost.Events[0].Data)
	}
	if s := e.stage(t, other); s != "LOST" {
		t.Fatalf("index stage %s after lose", s)
	}

	if end := kittest.Post(t, e.h, "end-campaign", map[string]any{"id": cmp, "expectedVersion": 3}).OK(t); end.Version != 4 {
		t.Fatalf("end %+v", end)
	}
	before := kittest.Head(t, e.l)
	kittest.Post(t, e.h, "end-campaign", map[string]any{"id": cmp}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, e.h, "launch-campaign", map[string]any{"id": cmp}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, e.h, "add-offer", map[string]any{"campaignId": cmp, "product": "X", "discountPercent": 5}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, e.h, "open-deal", map[string]any{"customerId": customer, "campaignId": cmp, "product": "X",
		"value": map[string]string{"amount": "1", "currencyCode": "EUR"}}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, e.h, "win-deal", map[string]any{"id": deal}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, e.h, "lose-deal", map[string]any{"id": deal, "reason": "late"}).Refused(t, errcode.Conflict, "")
	if kittest.Head(t, e.l) != before {
		t.Fatal("refused commands recorded events")
	}
}

func TestRefusalsRecordNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now()
	active, off := e.activeCampaign(t, "Solar Panel")
	_, otherOff := e.activeCampaign(t, "Boiler")
	draft := kittest.Post(t, e.h, "create-campaign", map[string]any{"name": "Draft", "endsAt": rfc3339(now.Add(48 * time.Hour))}).OK(t).StreamID
	past := kittest.Post(t, e.h, "create-campaign", map[string]any{"name": "Past",
		"startsAt": rfc3339(now.Add(-48 * time.Hour)), "endsAt": rfc3339(now.Add(-24 * time.Hour))}).OK(t).StreamID
	customer, archived := ids.New(ids.Customer), ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	e.facts.set(archived, domain.CustomerArchived)
	deal := e.openDeal(t, customer)
	won := e.openDeal(t, customer)
	kittest.Post(t, e.h, "win-deal", map[string]any{"id": won}).OK(t)
	eur := func(amount string) map[string]string {
		return map[string]string{"amount": amount, "currencyCode": "EUR"}
	}
	deal1 := func(extra map[string]any) map[string]any {
		b := map[string]any{"customerId": customer, "product": "Solar Panel", "value": eur("10")}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	before := kittest.Head(t, e.l)
	cases := []struct {
		name, cmd string
		body      any
		code      errcode.Code
		field     string
	}{
		{"empty name", "create-campaign", map[string]any{"name": "  "}, errcode.BadUserInput, "name"},
		{"long name", "create-campaign", map[string]any{"name": strings.Repeat("n", 201)}, errcode.BadUserInput, "name"},
		{"malformed startsAt", "create-campaign", map[string]any{"name": "A", "startsAt": "tomorrow"}, errcode.BadUserInput, "startsAt"},
		{"startsAt not a string", "create-campaign", map[string]any{"name": "A", "startsAt": 12}, errcode.BadUserInput, "startsAt"},
		{"end before start", "create-campaign", map[string]any{"name": "A", "startsAt": rfc3339(now), "endsAt": rfc3339(now.Add(-time.Minute))}, errcode.BadUserInput, "endsAt"},
		{"unknown field", "create-campaign", map[string]any{"name": "A", "budget": 5}, errcode.BadUserInput, "budget"},
		{"not json", "create-campaign", []byte(`{"name":`), errcode.BadUserInput, "body"},

		{"launch missing id", "launch-campaign", map[string]any{}, errcode.BadUserInput, "id"},
		{"launch malformed id", "launch-campaign", map[string]any{"id": "cmp_1"}, errcode.BadUserInput, "id"},
		{"launch wrong kind of id", "launch-campaign", map[string]any{"id": deal}, errcode.BadUserInput, "id"},
		{"launch unknown", "launch-campaign", map[string]any{"id": ids.New(ids.Campaign)}, errcode.NotFound, "id"},
		{"launch active", "launch-campaign", map[string]any{"id": active}, errcode.Conflict, ""},
		{"launch past its end", "launch-campaign", map[string]any{"id": past}, errcode.Conflict, ""},
		{"launch stale version", "launch-campaign", map[string]any{"id": draft, "expectedVersion": 3}, errcode.Conflict, "expectedVersion"},
		{"launch negative version", "launch-campaign", map[string]any{"id": draft, "expectedVersion": -1}, errcode.BadUserInput, "expectedVersion"},
		{"end draft", "end-campaign", map[string]any{"id": draft}, errcode.Conflict, ""},
		{"end unknown", "end-campaign", map[string]any{"id": ids.New(ids.Campaign)}, errcode.NotFound, "id"},
		{"end stale version", "end-campaign", map[string]any{"id": active, "expectedVersion": 1}, errcode.Conflict, "expectedVersion"},

		{"offer malformed campaign", "add-offer", map[string]any{"campaignId": "x", "product": "P", "discountPercent": 5}, errcode.BadUserInput, "campaignId"},
		{"offer unknown campaign", "add-offer", map[string]any{"campaignId": ids.New(ids.Campaign), "product": "P", "discountPercent": 5}, errcode.NotFound, "campaignId"},
		{"offer no product", "add-offer", map[string]any{"campaignId": draft, "discountPercent": 5}, errcode.BadUserInput, "product"},
		{"offer discount 0", "add-offer", map[string]any{"campaignId": draft, "product": "P"}, errcode.BadUserInput, "discountPercent"},
		{"offer discount 101", "add-offer", map[string]any{"campaignId": draft, "product": "P", "discountPercent": 101}, errcode.BadUserInput, "discountPercent"},
		{"offer discount fraction", "add-offer", map[string]any{"campaignId": draft, "product": "P", "discountPercent": 12.5}, errcode.BadUserInput, "discountPercent"},
		{"offer validUntil past", "add-offer", map[string]any{"campaignId": draft, "product": "P", "discountPercent": 5, "validUntil": rfc3339(now.Add(-time.Hour))}, errcode.BadUserInput, "validUntil"},
		{"offer validUntil malformed", "add-offer", map[string]any{"campaignId": draft, "product": "P", "discountPercent": 5, "validUntil": "2026-13-01"}, errcode.BadUserInput, "validUntil"},
		{"offer beyond campaign end", "add-offer", map[string]any{"campaignId": draft, "product": "P", "discountPercent": 5, "validUntil": rfc3339(now.Add(72 * time.Hour))}, errcode.BadUserInput, "validUntil"},
		{"offer stale version", "add-offer", map[string]any{"campaignId": draft, "product": "P", "discountPercent": 5, "expectedVersion": 9}, errcode.Conflict, "expectedVersion"},

		{"deal missing customer", "open-deal", deal1(map[string]any{"customerId": ""}), errcode.BadUserInput, "customerId"},
		{"deal malformed customer", "open-deal", deal1(map[string]any{"customerId": "cus_x"}), errcode.BadUserInput, "customerId"},
		{"deal malformed campaign", "open-deal", deal1(map[string]any{"campaignId": customer}), errcode.BadUserInput, "campaignId"},
		{"deal malformed offer", "open-deal", deal1(map[string]any{"campaignId": active, "offerId": "off"}), errcode.BadUserInput, "offerId"},
		{"deal malformed rep", "open-deal", deal1(map[string]any{"salesRepId": customer}), errcode.BadUserInput, "salesRepId"},
		{"deal offer without campaign", "open-deal", deal1(map[string]any{"offerId": off}), errcode.BadUserInput, "campaignId"},
		{"deal offer of another campaign", "open-deal", deal1(map[string]any{"campaignId": active, "offerId": otherOff}), errcode.BadUserInput, "offerId"},
		{"deal product not the offer's", "open-deal", deal1(map[string]any{"campaignId": active, "offerId": off, "product": "Boiler"}), errcode.BadUserInput, "product"},
		{"deal no value", "open-deal", map[string]any{"customerId": customer, "product": "P"}, errcode.BadUserInput, "value"},
		{"deal unknown currency", "open-deal", deal1(map[string]any{"value": map[string]string{"amount": "1", "currencyCode": "XAU"}}), errcode.BadUserInput, "value.currencyCode"},
		{"deal negative amount", "open-deal", deal1(map[string]any{"value": eur("-5")}), errcode.BadUserInput, "value.amount"},
		{"deal too many decimals", "open-deal", deal1(map[string]any{"value": eur("1.005")}), errcode.BadUserInput, "value.amount"},
		{"deal amount as number", "open-deal", deal1(map[string]any{"value": map[string]any{"amount": 5, "currencyCode": "EUR"}}), errcode.BadUserInput, "value.amount"},
		{"deal unknown customer", "open-deal", deal1(map[string]any{"customerId": ids.New(ids.Customer)}), errcode.NotFound, "customerId"},
		{"deal archived customer", "open-deal", deal1(map[string]any{"customerId": archived}), errcode.Conflict, ""},
		{"deal unknown campaign", "open-deal", deal1(map[string]any{"campaignId": ids.New(ids.Campaign)}), errcode.NotFound, "campaignId"},
		{"deal draft campaign", "open-deal", deal1(map[string]any{"campaignId": draft}), errcode.Conflict, ""},

		{"win malformed id", "win-deal", map[string]any{"id": "deal_"}, errcode.BadUserInput, "id"},
		{"win wrong kind of id", "win-deal", map[string]any{"id": active}, errcode.BadUserInput, "id"},
		{"win unknown", "win-deal", map[string]any{"id": ids.New(ids.Deal)}, errcode.NotFound, "id"},
		{"win stale version", "win-deal", map[string]any{"id": deal, "expectedVersion": 0}, errcode.Conflict, "expectedVersion"},
		{"win won", "win-deal", map[string]any{"id": won}, errcode.Conflict, ""},
		{"lose no reason", "lose-deal", map[string]any{"id": deal, "reason": " "}, errcode.BadUserInput, "reason"},
		{"lose long reason", "lose-deal", map[string]any{"id": deal, "reason": strings.Repeat("r", 501)}, errcode.BadUserInput, "reason"},
		{"lose unknown", "lose-deal", map[string]any{"id": ids.New(ids.Deal), "reason": "r"}, errcode.NotFound, "id"},
		{"lose won", "lose-deal", map[string]any{"id": won, "reason": "r"}, errcode.Conflict, ""},
		{"lose stale version", "lose-deal", map[string]any{"id": deal, "reason": "r", "expectedVersion": 2}, errcode.Conflict, "expectedVersion"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kittest.Post(t, e.h, c.cmd, c.body).Refused(t, c.code, c.field)
		})
	}
	kittest.Post(t, e.h, "open-deal", deal1(nil), wire.HeaderConsistencyToken, "garbage").Refused(t, errcode.BadUserInput, "consistencyToken")
	if after := kittest.Head(t, e.l); after != before {
		t.Fatalf("refusals recorded %d events", after-before)
	}
}

// A replica that cannot answer refuses the command with its code, or
// UNAVAILABLE, and nothing is recorded.
func TestReplicaFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	body := map[string]any{"customerId": customer, "product": "P", "value": map[string]string{"amount": "1", "currencyCode": "USD"}}
	e.facts.fail(errcode.New(errcode.ConsistencyTimeout, "the customers replica is behind"))
	kittest.Post(t, e.h, "open-deal", body).Refused(t, errcode.ConsistencyTimeout, "")
	e.facts.fail(errors.New("connection refused"))
	a := kittest.Post(t, e.h, "open-deal", body)
	a.Refused(t, errcode.Unavailable, "")
	if strings.Contains(a.Error.Message, "refused") {
		t.Fatalf("internal text reached the client: %q", a.Error.Message)
	}
	if head := kittest.Head(t, e.l); head != 0 {
		t.Fatalf("log holds %d events", head)
	}
	e.facts.fail(nil)
	kittest.Post(t, e.h, "open-deal", body).OK(t)
}

func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	body := map[string]any{"idempotencyKey": "k-1", "customerId": customer, "product": "P",
		"value": map[string]string{"amount": "1", "currencyCode": "USD"}}
	first := kittest.Post(t, e.h, "open-deal", body).OK(t)
	// A retry answers with the first outcome even when the replica now
	// says otherwise: nothing is decided again.
	e.facts.set(customer, domain.CustomerArchived)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again := kittest.Post(t, e.h, "open-deal", body).OK(t)
			if !again.Duplicate || again.StreamID != first.StreamID || again.Position != first.Position || again.Version != 1 ||
				len(again.Events) != 1 || again.Events[0].ID != first.Events[0].ID {
				t.Errorf("retry answered %+v, first %+v", again, first)
			}
		}()
	}
	wg.Wait()
	created := kittest.Post(t, e.h, "create-campaign", map[string]any{"idempotencyKey": "k-1", "name": "C"}).OK(t)
	if created.Duplicate {
		t.Fatal("the same key on another command must be another key")
	}
	again := kittest.Post(t, e.h, "create-campaign", map[string]any{"idempotencyKey": "k-1", "name": "C"}).OK(t)
	if !again.Duplicate || again.StreamID != created.StreamID {
		t.Fatalf("create retry %+v, first %+v", again, created)
	}
	win := map[string]any{"idempotencyKey": "w", "id": first.StreamID}
	w1 := kittest.Post(t, e.h, "win-deal", win).OK(t)
	if w2 := kittest.Post(t, e.h, "win-deal", win).OK(t); !w2.Duplicate || w2.Version != w1.Version || w2.Position != w1.Position {
		t.Fatalf("win retry %+v, first %+v", w2, w1)
	}
	if head := kittest.Head(t, e.l); head != 3 {
		t.Fatalf("log holds %d events, want 3", head)
	}
}

// Concurrent wins and losses of one deal: exactly one is recorded; the
// others lose the race, are decided again and refused.
func TestConcurrentEndsOfOneDeal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	customer := ids.New(ids.Customer)
	e.facts.set(customer, domain.CustomerActive)
	deal := e.openDeal(t, customer)
	const n = 16
	answers := make(chan kittest.Answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				answers <- kittest.Post(t, e.h, "win-deal", map[string]any{"id": deal})
				return
			}
			answers <- kittest.Post(t, e.h, "lose-deal", map[string]any{"id": deal, "reason": "race"})
		}()
	}
	wg.Wait()
	close(answers)
	wins := 0
	for a := range answers {
		if a.Status == http.StatusOK {
			wins++
			continue
		}
		a.Refused(t, errcode.Conflict, "")
	}
	if wins != 1 {
		t.Fatalf("%d of the racing commands succeeded", wins)
	}
	if head := kittest.Head(t, e.l); head != 2 {
		t.Fatalf("log holds %d events, want 2", head)
	}
}
