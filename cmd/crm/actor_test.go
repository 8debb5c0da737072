package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"crm/eventlog/testenv"
)

// TestEveryEventCarriesTheVerifiedActor runs a sales rep's day through
// crm dev with the rep's own token, a forged X-Actor on every request:
// every event their mutations write, in every area, records the rep's
// subject; the reactions in other areas (archiving the customer cancels
// the appointment and loses the deal) record "system" on behalf of the
// rep. Nothing records the forged actor.
func TestEveryEventCarriesTheVerifiedActor(t *testing.T) {
	admin, env := startDev(t)
	var dbURL string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "CRM_DATABASE_URL="); ok {
			dbURL = v
		}
	}
	id := func(r gqlResponse, field string) string {
		var v struct{ ID string }
		r.ok(t, field, &v)
		return v.ID
	}
	rep := id(admin.gql(t, `mutation { registerSalesperson(input: {name: "Grace", email: "grace@example.com", role: SALES_REP}) { id } }`, nil), "registerSalesperson")
	cmp := id(admin.gql(t, `mutation { createCampaign(input: {name: "Spring", startsAt: "2030-01-01T00:00:00Z", endsAt: "2030-06-01T00:00:00Z"}) { id } }`, nil), "createCampaign")
	admin.gql(t, fmt.Sprintf(`mutation { launchCampaign(input: {id: %q}) { id } }`, cmp), nil).ok(t, "launchCampaign", &struct{}{})
	before := heads(t, dbURL)

	sub := rep // the development issuer's subject of a salesperson is their id
	sales := &system{url: admin.url, token: devTokenFor(t, admin, sub, 0)}
	forged := func(query string) gqlResponse {
		t.Helper()
		return sales.gqlWith(t, query, map[string]string{"X-Actor": "mallory"})
	}
	cus := id(forged(`mutation { registerCustomer(input: {name: "Ada", email: "ada@example.com"}) { id } }`), "registerCustomer")
	admin.gql(t, fmt.Sprintf(`mutation { assignAccountTeam(input: {customerId: %q, salesRepId: %q}) { id } }`, cus, rep), nil).ok(t, "assignAccountTeam", &struct{}{})
	afterAdmin := heads(t, dbURL)
	forged(fmt.Sprintf(`mutation { updateCustomer(input: {id: %q, phone: "+44 20 7946 0000"}) { id } }`, cus)).ok(t, "updateCustomer", &struct{}{})
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	forged(fmt.Sprintf(`mutation { scheduleAppointment(input: {customerId: %q, salespersonId: %q, startsAt: %q, endsAt: %q, location: "Office"}) { id } }`,
		cus, rep, start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339))).ok(t, "scheduleAppointment", &struct{}{})
	admin.gql(t, fmt.Sprintf(`mutation { openDeal(input: {customerId: %q, campaignId: %q, product: "Heat pump", value: {amount: "100.00", currencyCode: "EUR"}}) { id } }`, cus, cmp), nil).ok(t, "openDeal", &struct{}{})
	forged(fmt.Sprintf(`mutation { archiveCustomer(input: {id: %q}) { id } }`, cus)).ok(t, "archiveCustomer", &struct{}{})

	// The reactions run after the answer: wait for the cancellation and the lost deal.
	pool := testenv.Pool(t, dbURL)
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, func() error {
		var n int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM appointments.events WHERE type = 'AppointmentCancelled')
			+ (SELECT count(*) FROM campaigns.events WHERE type = 'DealLost')`).Scan(&n); err != nil {
			return err
		}
		if n < 2 {
			return fmt.Errorf("%d reactions so far", n)
		}
		return nil
	})

	var mine, reactions int
	for _, area := range areas {
		rows, err := pool.Query(ctx, `SELECT position, type, coalesce(metadata->>'actor', ''), coalesce(metadata->>'onBehalfOf', '')
			FROM `+area+`.events WHERE position > $1 ORDER BY position`, before[area])
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var pos int64
			var typ, actor, behalf string
			if err := rows.Scan(&pos, &typ, &actor, &behalf); err != nil {
				t.Fatal(err)
			}
			byAdmin := pos > before[area] && pos <= afterAdmin[area] && typ != "CustomerRegistered" && typ != "CustomerEmailClaimed"
			switch {
			case actor == "mallory" || behalf == "mallory":
				t.Errorf("%s %s #%d records the forged actor", area, typ, pos)
			case actor == sub:
				mine++
			case actor == "system" && behalf == sub:
				reactions++
			case actor == "admin" && (byAdmin || typ == "DealOpened"):
			default:
				t.Errorf("%s %s #%d: actor %q on behalf of %q", area, typ, pos, actor, behalf)
			}
		}
		rows.Close()
	}
	t.Logf("%d events by %s, %d reactions on their behalf", mine, sub, reactions)
	if mine < 4 || reactions < 2 {
		t.Errorf("%d events by %s, %d reactions on their behalf", mine, sub, reactions)
	}
}

// TestFeedFollowsTheAccessRules subscribes a viewer to every area's feed
// over WebSocket on the real binary: the customers area's events (personal
// data) never reach them, the others do, in order; an admin's subscription
// gets both.
func TestFeedFollowsTheAccessRules(t *testing.T) {
	admin, _ := startDev(t)
	viewer := &system{url: admin.url, token: devTokenFor(t, admin, "viewer", 0)}
	const feed = `subscription { eventRecorded(areas: [CUSTOMERS, CAMPAIGNS]) { area type } }`
	vw, aw := dialWS(t, viewer, false), dialWS(t, admin, false)
	vw.subscribe(t, "v", feed)
	aw.subscribe(t, "a", feed)
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := subscriptions(t, admin); n != 2 {
			return fmt.Errorf("%d subscriptions", n)
		}
		return nil
	})
	admin.gql(t, `mutation { registerCustomer(input: {name: "Ada", email: "ada@example.com"}) { id } }`, nil).ok(t, "registerCustomer", &struct{}{})
	admin.gql(t, `mutation { createCampaign(input: {name: "Spring"}) { id } }`, nil).ok(t, "createCampaign", &struct{}{})
	types := func(w *wsClient, until string) []string {
		var got []string
		for {
			m := w.read(t)
			p, _ := m["payload"].(map[string]any)
			d, _ := p["data"].(map[string]any)
			e, _ := d["eventRecorded"].(map[string]any)
			if e == nil {
				t.Fatalf("feed answered %v", m)
			}
			got = append(got, fmt.Sprint(e["area"], "/", e["type"]))
			if e["type"] == until {
				return got
			}
		}
	}
	if got := types(vw, "CampaignCreated"); strings.Join(got, ",") != "CAMPAIGNS/CampaignCreated" {
		t.Errorf("viewer's feed: %v", got)
	}
	if got := types(aw, "CampaignCreated"); len(got) < 2 || !strings.HasPrefix(got[0], "CUSTOMERS/") {
		t.Errorf("admin's feed: %v", got)
	}
}
