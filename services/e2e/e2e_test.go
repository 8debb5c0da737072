package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
	"crm/eventlog/testenv"
	"crm/services/appointments"
	"crm/services/campaigns"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/wire"
)

func token(results ...wire.Result) string {
	t := wire.Token{}
	for _, r := range results {
		t[r.Area] = max(t[r.Area], r.Position)
	}
	return t.String()
}

func (s *system) post(t *testing.T, area, cmd string, body any, tok string) kittest.Answer {
	t.Helper()
	var headers []string
	if tok != "" {
		headers = []string{wire.HeaderConsistencyToken, tok}
	}
	return kittest.Post(t, s.areas[area].Handler, cmd, body, headers...)
}

// fixtures: a sales rep and an active campaign with an offer.
func (s *system) fixtures(t *testing.T) (rep, campaign wire.Result) {
	t.Helper()
	rep = s.post(t, "relationships", "register-salesperson", map[string]any{
		"name": "Grace Hopper", "email": "grace@example.com", "role": "SALES_REP"}, "").OK(t)
	campaign = s.post(t, "campaigns", "create-campaign", map[string]any{"name": "Winter"}, "").OK(t)
	campaign = s.post(t, "campaigns", "launch-campaign", map[string]any{"id": campaign.StreamID}, "").OK(t)
	return rep, campaign
}

func at(i int) (string, string) {
	start := time.Now().Add(48 * time.Hour).Truncate(time.Hour).Add(time.Duration(i) * 2 * time.Hour)
	return start.UTC().Format(time.RFC3339), start.Add(time.Hour).UTC().Format(time.RFC3339)
}

// A command that depends on another area's data sees every write that
// completed before it was sent, when it carries the token of that write.
func TestRegisterThenScheduleAndOpenDeal(t *testing.T) {
	t.Parallel()
	s := start(t)
	rep, campaign := s.fixtures(t)
	for i := 0; i < 100; i++ {
		cus := s.post(t, "customers", "register-customer", map[string]any{
			"name": fmt.Sprint("Customer ", i), "email": fmt.Sprintf("c%d@example.com", i)}, "").OK(t)
		from, to := at(i)
		s.post(t, "appointments", "schedule-appointment", map[string]any{"customerId": cus.StreamID,
			"salespersonId": rep.StreamID, "startsAt": from, "endsAt": to, "location": "Office"}, token(cus, rep)).OK(t)
		s.post(t, "campaigns", "open-deal", map[string]any{"customerId": cus.StreamID, "campaignId": campaign.StreamID,
			"product": "Solar panel", "value": map[string]string{"amount": "1250.00", "currencyCode": "EUR"}}, token(cus)).OK(t)
	}
}

func lastEvent(t *testing.T, l *eventlog.Log, stream string) eventlog.Event {
	t.Helper()
	evs, err := l.ReadAllStream(context.Background(), stream)
	if err != nil || len(evs) == 0 {
		t.Fatalf("stream %s: %d events, %v", stream, len(evs), err)
	}
	return evs[len(evs)-1]
}

func waitLast(t *testing.T, l *eventlog.Log, stream, typ, reason string) eventlog.Event {
	t.Helper()
	var ev eventlog.Event
	testenv.Eventually(t, 30*time.Second, func() error {
		evs, err := l.ReadAllStream(context.Background(), stream)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			ev = evs[len(evs)-1]
			if ev.Type == typ && strings.Contains(string(ev.Data), reason) {
				return nil
			}
		}
		return fmt.Errorf("stream %s ends with %s %s, want %s (%s)", stream, ev.Type, ev.Data, typ, reason)
	})
	return ev
}

// Archiving a customer cancels their future appointments and loses their
// open deals, as the reacting areas' own events caused by the archive;
// delivering the archive to the reactions again changes nothing.
func TestArchiveCancelsAppointmentsAndLosesDeals(t *testing.T) {
	t.Parallel()
	s := start(t)
	rep, campaign := s.fixtures(t)
	cus := s.post(t, "customers", "register-customer", map[string]any{"name": "Ada", "email": "ada@example.com"}, "").OK(t)
	other := s.post(t, "customers", "register-customer", map[string]any{"name": "Bob", "email": "bob@example.com"}, "").OK(t)
	var apts, deals []string
	for i := 0; i < 3; i++ {
		from, to := at(i)
		apts = append(apts, s.post(t, "appointments", "schedule-appointment", map[string]any{"customerId": cus.StreamID,
			"salespersonId": rep.StreamID, "startsAt": from, "endsAt": to, "location": "Office"}, token(cus, rep)).OK(t).StreamID)
	}
	from, to := at(5)
	keep := s.post(t, "appointments", "schedule-appointment", map[string]any{"customerId": other.StreamID,
		"salespersonId": rep.StreamID, "startsAt": from, "endsAt": to, "location": "Office"}, token(other, rep)).OK(t)
	for i := 0; i < 2; i++ {
		deals = append(deals, s.post(t, "campaigns", "open-deal", map[string]any{"customerId": cus.StreamID,
			"campaignId": campaign.StreamID, "product": "Heat pump",
			"value": map[string]string{"amount": strconv.Itoa(100 * (i + 1)), "currencyCode": "EUR"}}, token(cus)).OK(t).StreamID)
	}
	// The archive is the user's; what the reactions record is the
	// system's, on the user's behalf.
	archived := kittest.PostAs(t, s.areas["customers"].Handler, "user-archivist", "archive-customer",
		map[string]any{"id": cus.StreamID, "reason": "moved away"}, "X-Actor", "forged").OK(t)
	cause := archived.Events[0]
	if cause.Metadata.Actor != "user-archivist" || cause.Metadata.OnBehalfOf != "" {
		t.Fatalf("archive metadata %+v", cause.Metadata)
	}
	reacted := func(m eventlog.Metadata) bool {
		return m.Actor == kit.ReactionActor && m.OnBehalfOf == "user-archivist" && m.CausationID == cause.ID
	}

	aptLog, dealLog := s.areas["appointments"].Log, s.areas["campaigns"].Log
	for _, id := range apts {
		ev := waitLast(t, aptLog, id, "AppointmentCancelled", "customer archived")
		if !reacted(ev.Metadata) || ev.Metadata.CorrelationID != cause.Metadata.CorrelationID {
			t.Fatalf("cancellation metadata %+v, cause %s", ev.Metadata, cause.ID)
		}
	}
	for _, id := range deals {
		ev := waitLast(t, dealLog, id, "DealLost", "customer archived")
		if !reacted(ev.Metadata) || ev.Metadata.CorrelationID != cause.Metadata.CorrelationID {
			t.Fatalf("loss metadata %+v", ev.Metadata)
		}
	}
	if ev := lastEvent(t, aptLog, keep.StreamID); ev.Type != "AppointmentScheduled" {
		t.Fatalf("another customer's appointment was touched: %s", ev.Type)
	}

	// Replaying the archive event to both reactions changes nothing.
	aptHead, dealHead := s.head(t, "appointments"), s.head(t, "campaigns")
	ctx := context.Background()
	if err := appointments.NewService(aptLog, nil, s.pool).CustomerArchived(ctx, cus.StreamID, cause); err != nil {
		t.Fatal(err)
	}
	if err := campaigns.NewService(dealLog, nil, s.pool).CustomerArchived(ctx, cus.StreamID, cause); err != nil {
		t.Fatal(err)
	}
	if s.head(t, "appointments") != aptHead || s.head(t, "campaigns") != dealHead {
		t.Fatal("replaying the archive recorded new events")
	}
	// And the archived customer can no longer get appointments.
	from, to = at(9)
	s.post(t, "appointments", "schedule-appointment", map[string]any{"customerId": cus.StreamID,
		"salespersonId": rep.StreamID, "startsAt": from, "endsAt": to, "location": "Office"}, token(archived, rep)).
		Refused(t, "CONFLICT", "")
}

// Winning a deal adds its product to the customer's products.
func TestWonDealAddsProduct(t *testing.T) {
	t.Parallel()
	s := start(t)
	_, campaign := s.fixtures(t)
	cus := s.post(t, "customers", "register-customer", map[string]any{"name": "Ada", "email": "ada@example.com"}, "").OK(t)
	deal := s.post(t, "campaigns", "open-deal", map[string]any{"customerId": cus.StreamID, "campaignId": campaign.StreamID,
		"product": "Wallbox", "value": map[string]string{"amount": "999.99", "currencyCode": "EUR"}}, token(cus)).OK(t)
	won := s.post(t, "campaigns", "win-deal", map[string]any{"id": deal.StreamID, "expectedVersion": 1}, "").OK(t)
	ev := waitLast(t, s.areas["relationships"].Log, cus.StreamID, "ProductAdded", "Wallbox")
	var data struct{ Products []string }
	json.Unmarshal(ev.Data, &data)
	if !slices.Equal(data.Products, []string{"Wallbox"}) || ev.Metadata.CausationID != won.Events[0].ID ||
		ev.Metadata.Actor != kit.ReactionActor || ev.Metadata.OnBehalfOf != kittest.Actor {
		t.Fatalf("ProductAdded %s %+v", ev.Data, ev.Metadata)
	}
}

// Each area's schema holds only its own tables; no table is shared.
func TestAreasShareNoTable(t *testing.T) {
	t.Parallel()
	s := start(t)
	rows, err := s.pool.Query(context.Background(), `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			t.Fatal(err)
		}
		got[schema] = append(got[schema], table)
	}
	common := []string{"consumer_checkpoints", "consumer_dead_letters", "consumer_schema_version", "eventlog_schema_version",
		"events", "idempotency", "relay_progress", "relay_schema_version", "replica", "replica_schema_version"}
	want := map[string][]string{
		"customers":     common,
		"relationships": common,
		"appointments":  append(slices.Clone(common), "appointment_index", "appointments_schema_version"),
		"campaigns":     append(slices.Clone(common), "campaigns_schema_version", "deal_index"),
	}
	for schema, tables := range want {
		sort.Strings(tables)
		if !slices.Equal(got[schema], tables) {
			t.Errorf("schema %s holds %v, want %v", schema, got[schema], tables)
		}
	}
	for schema := range got {
		if _, ok := want[schema]; !ok {
			t.Errorf("unexpected schema %s with %v", schema, got[schema])
		}
	}
}

// Over HTTP, a service serves its commands and log only to holders of the
// service credential: without one, or with a forged one, the answer is
// 401 UNAUTHENTICATED and nothing is recorded; with one, the actor is its
// subject, whatever X-Actor says.
func TestServicesTrustOnlyTheCredential(t *testing.T) {
	t.Parallel()
	s := start(t)
	base := s.urls["customers"]
	do := func(method, path, auth, body string, hdr ...string) (int, errcode.Body, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var b errcode.Body
		_ = json.Unmarshal(raw, &b)
		return resp.StatusCode, b, raw
	}
	cmd := `{"name":"Eve","email":"eve@example.com"}`
	otherKey, _ := svcauth.Random().Sign("admin")
	for _, auth := range []string{"", "Bearer nonsense", "Bearer " + otherKey} {
		for _, r := range [][2]string{{"POST", "/commands/register-customer"}, {"GET", "/events"}, {"GET", "/streams/cus_x/events"}} {
			body := ""
			if r[0] == "POST" {
				body = cmd
			}
			code, b, raw := do(r[0], r[1], auth, body, "X-Actor", "admin")
			if code != http.StatusUnauthorized || b.Error == nil || b.Error.Code != errcode.Unauthenticated {
				t.Fatalf("%s %s with %q: %d %s", r[0], r[1], auth, code, raw)
			}
		}
	}
	if h := s.head(t, "customers"); h != 0 {
		t.Fatalf("refused commands recorded events: head %d", h)
	}
	if code, _, _ := do("GET", "/healthz", "", ""); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	code, _, raw := do("POST", "/commands/register-customer", kittest.Bearer(t, "user-1"), cmd, "X-Actor", "admin")
	var res wire.Result
	if code != http.StatusOK || json.Unmarshal(raw, &res) != nil || res.Events[0].Metadata.Actor != "user-1" {
		t.Fatalf("with the credential: %d %s", code, raw)
	}
	if code, _, raw := do("GET", "/events", kittest.Bearer(t, "projector"), ""); code != http.StatusOK {
		t.Fatalf("log with the credential: %d %s", code, raw)
	}
}
