package projector

import (
	"testing"
	"time"

	"crm/eventlog"
	apt "crm/services/appointments/contract"
	cmp "crm/services/campaigns/contract"
	cus "crm/services/customers/contract"
	rel "crm/services/relationships/contract"
)

// scenario is a realistic history of the four areas, each area's events in
// its log order.
type scenario struct {
	customers, relationships, appointments, campaigns []delivered
	future                                            time.Time
}

func newScenario(t *testing.T) scenario {
	c, r, a, k := newFeed(AreaCustomers), newFeed(AreaRelationships), newFeed(AreaAppointments), newFeed(AreaCampaigns)
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	future := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Microsecond)
	past := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Microsecond)
	var s scenario
	s.future = future
	s.customers = []delivered{
		c.ev(t, cus.CustomerRegistered{CustomerID: "cus_1", Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+441234567890",
			Address: &cus.Address{City: "London", Country: "GB"}, RegisteredAt: now}),
		c.ev(t, cus.CustomerEmailClaimed{Email: "ada@example.com", CustomerID: "cus_1", ClaimedAt: now}),
		c.ev(t, cus.CustomerRegistered{CustomerID: "cus_2", Name: "Bob", Email: "bob@example.com", RegisteredAt: now}),
		c.ev(t, cus.CustomerUpdated{CustomerID: "cus_1", Name: "Ada King", Email: "ada@example.com", Phone: "+441234567890",
			Address: &cus.Address{Street: "1 Main St", City: "London", Country: "GB"}, Changed: []string{"name", "address"}, UpdatedAt: now.Add(time.Hour)}),
		c.ev(t, cus.CustomerArchived{CustomerID: "cus_2", Reason: "moved", ArchivedAt: now.Add(2 * time.Hour)}),
	}
	s.relationships = []delivered{
		r.ev(t, rel.SalespersonRegistered{SalespersonID: "sp_m", Name: "Grace", Email: "grace@example.com", Role: rel.RoleManager, RegisteredAt: now}),
		r.ev(t, rel.SalespersonRegistered{SalespersonID: "sp_r", Name: "Linus", Email: "linus@example.com", Role: rel.RoleSalesRep, ManagerID: "sp_m", RegisteredAt: now}),
		r.ev(t, rel.AccountTeamAssigned{CustomerID: "cus_1", SalesRepID: "sp_r", ManagerID: "sp_m", AssignedAt: now}),
		r.ev(t, rel.InterestRecorded{CustomerID: "cus_1", Interest: "Boats", Interests: []string{"Boats"}, RecordedAt: now}),
		r.ev(t, rel.InterestRecorded{CustomerID: "cus_1", Interest: "Cars", Interests: []string{"Boats", "Cars"}, RecordedAt: now}),
		r.ev(t, rel.InterestRemoved{CustomerID: "cus_1", Interest: "Boats", Interests: []string{"Cars"}, RemovedAt: now}),
		r.ev(t, rel.ProductAdded{CustomerID: "cus_1", DealID: "deal_1", Product: "Yacht", Products: []string{"Yacht"}, AddedAt: now}),
	}
	s.appointments = []delivered{
		a.ev(t, apt.AppointmentScheduled{AppointmentID: "apt_1", CustomerID: "cus_1", SalespersonID: "sp_r",
			StartsAt: future.Add(2 * time.Hour), EndsAt: future.Add(3 * time.Hour), Location: "Office"}),
		a.ev(t, apt.CalendarSlotBooked{SalespersonID: "sp_r", AppointmentID: "apt_1", StartsAt: future, EndsAt: future.Add(time.Hour)}),
		a.ev(t, apt.AppointmentScheduled{AppointmentID: "apt_2", CustomerID: "cus_1", SalespersonID: "sp_r",
			StartsAt: future.Add(5 * time.Hour), EndsAt: future.Add(6 * time.Hour), Location: "Cafe"}),
		a.ev(t, apt.AppointmentRescheduled{AppointmentID: "apt_1", CustomerID: "cus_1", SalespersonID: "sp_r",
			StartsAt: future.Add(7 * time.Hour), EndsAt: future.Add(8 * time.Hour), Location: "Office 2",
			PreviousStartsAt: future.Add(2 * time.Hour), PreviousEndsAt: future.Add(3 * time.Hour)}),
		a.ev(t, apt.AppointmentScheduled{AppointmentID: "apt_3", CustomerID: "cus_1", SalespersonID: "sp_m",
			StartsAt: future.Add(time.Hour), EndsAt: future.Add(2 * time.Hour), Location: "Zoo"}),
		a.ev(t, apt.AppointmentCancelled{AppointmentID: "apt_3", CustomerID: "cus_1", SalespersonID: "sp_m",
			StartsAt: future.Add(time.Hour), EndsAt: future.Add(2 * time.Hour), Reason: "sick"}),
		a.ev(t, apt.AppointmentScheduled{AppointmentID: "apt_4", CustomerID: "cus_2", SalespersonID: "sp_r",
			StartsAt: past, EndsAt: past.Add(time.Hour), Location: "Home"}),
		a.ev(t, apt.AppointmentCompleted{AppointmentID: "apt_4", CustomerID: "cus_2", SalespersonID: "sp_r",
			StartsAt: past, EndsAt: past.Add(time.Hour), Notes: "went well"}),
	}
	until := future.Add(24 * time.Hour)
	s.campaigns = []delivered{
		k.ev(t, cmp.DealOpened{DealID: "deal_0", CustomerID: "cus_1", CampaignID: "cmp_1", Product: "Boat",
			Value: cmp.Money{Amount: "100.50", CurrencyCode: "EUR"}}), // a deal stream before its campaign's in the log
		k.ev(t, cmp.CampaignCreated{CampaignID: "cmp_1", Name: "Spring", StartsAt: &now}),
		k.ev(t, cmp.OfferAdded{CampaignID: "cmp_1", OfferID: "off_1", Product: "Yacht", DiscountPercent: 10, ValidUntil: &until}),
		k.ev(t, cmp.CampaignLaunched{CampaignID: "cmp_1"}),
		k.ev(t, cmp.DealOpened{DealID: "deal_1", CustomerID: "cus_1", CampaignID: "cmp_1", OfferID: "off_1", SalesRepID: "sp_r",
			Product: "Yacht", Value: cmp.Money{Amount: "1250.00", CurrencyCode: "EUR"}}),
		k.ev(t, cmp.DealOpened{DealID: "deal_2", CustomerID: "cus_1", Product: "Car", Value: cmp.Money{Amount: "5000", CurrencyCode: "JPY"}}),
		k.ev(t, cmp.DealOpened{DealID: "deal_3", CustomerID: "cus_1", CampaignID: "cmp_1", Product: "Oar", Value: cmp.Money{Amount: "9.99", CurrencyCode: "EUR"}}),
		k.ev(t, cmp.DealWon{DealID: "deal_1", CustomerID: "cus_1", CampaignID: "cmp_1", OfferID: "off_1", SalesRepID: "sp_r",
			Product: "Yacht", Value: cmp.Money{Amount: "1250.00", CurrencyCode: "EUR"}}),
		k.ev(t, cmp.DealWon{DealID: "deal_2", CustomerID: "cus_1", Product: "Car", Value: cmp.Money{Amount: "5000", CurrencyCode: "JPY"}}),
		k.ev(t, cmp.DealWon{DealID: "deal_0", CustomerID: "cus_1", CampaignID: "cmp_1", Product: "Boat",
			Value: cmp.Money{Amount: "100.50", CurrencyCode: "EUR"}}),
		k.ev(t, cmp.DealLost{DealID: "deal_3", CustomerID: "cus_1", CampaignID: "cmp_1", Product: "Oar",
			Value: cmp.Money{Amount: "9.99", CurrencyCode: "EUR"}, Reason: "too expensive"}),
		k.ev(t, cmp.CampaignEnded{CampaignID: "cmp_1"}),
	}
	return s
}

func (s scenario) inOrder() []delivered {
	var out []delivered
	for _, part := range [][]delivered{s.customers, s.relationships, s.appointments, s.campaigns} {
		out = append(out, part...)
	}
	return out
}

func TestProjectionsAfterRealisticHistory(t *testing.T) {
	t.Parallel()
	db := newReadDB(t)
	s := newScenario(t)
	db.apply(t, All(), s.inOrder()...)

	want(t, "cus_1", db.row(t, "customers", "cus_1"), map[string]any{
		"registered": true, "name": "Ada King", "email": "ada@example.com", "phone": "+441234567890",
		"street": "1 Main St", "city": "London", "postal_code": nil, "country": "GB", "status": "ACTIVE",
		"version": 2, "created_at": "2026-01-02T03:00:00+00:00", "updated_at": "2026-01-02T04:00:00+00:00",
		"sales_rep_id": "sp_r", "manager_id": "sp_m", "interests": []string{"Cars"}, "products": []string{"Yacht"},
		"upcoming_appointment_count": 2, "next_appointment_id": "apt_2", "open_deal_count": 0,
		"won_totals": map[string]string{"EUR": "1350.50", "JPY": "5000"},
	})
	want(t, "cus_2", db.row(t, "customers", "cus_2"), map[string]any{
		"registered": true, "status": "ARCHIVED", "version": 2, "upcoming_appointment_count": 0, "next_appointment_id": nil,
		"interests": []string{}, "won_totals": map[string]string{},
	})
	want(t, "sp_r", db.row(t, "salespeople", "sp_r"), map[string]any{
		"name": "Linus", "email": "linus@example.com", "role": "SALES_REP", "manager_id": "sp_m", "version": 1,
	})
	want(t, "sp_m", db.row(t, "salespeople", "sp_m"), map[string]any{"role": "MANAGER", "manager_id": nil})
	want(t, "apt_1", db.row(t, "appointments", "apt_1"), map[string]any{
		"registered": true, "customer_id": "cus_1", "customer_name": "Ada King", "salesperson_id": "sp_r",
		"salesperson_name": "Linus", "location": "Office 2", "status": "SCHEDULED", "version": 2,
	})
	want(t, "apt_3", db.row(t, "appointments", "apt_3"), map[string]any{
		"status": "CANCELLED", "cancellation_reason": "sick", "salesperson_name": "Grace", "version": 2,
	})
	want(t, "apt_4", db.row(t, "appointments", "apt_4"), map[string]any{
		"status": "COMPLETED", "notes": "went well", "customer_name": "Bob", "location": "Home",
	})
	want(t, "cmp_1", db.row(t, "campaigns", "cmp_1"), map[string]any{
		"name": "Spring", "status": "ENDED", "version": 4, "open_deal_count": 0,
		"won_totals": map[string]string{"EUR": "1350.50"}, "ends_at": nil,
		"offers": []map[string]any{{"id": "off_1", "product": "Yacht", "discountPercent": 10,
			"validUntil": s.future.Add(24 * time.Hour).Format(time.RFC3339Nano)}},
	})
	want(t, "deal_1", db.row(t, "deals", "deal_1"), map[string]any{
		"customer_id": "cus_1", "campaign_id": "cmp_1", "offer_id": "off_1", "sales_rep_id": "sp_r", "product": "Yacht",
		"amount": 1250.00, "currency": "EUR", "stage": "WON", "lost_reason": nil, "version": 2,
	})
	want(t, "deal_3", db.row(t, "deals", "deal_3"), map[string]any{"stage": "LOST", "lost_reason": "too expensive", "campaign_id": "cmp_1"})
	want(t, "deal_2", db.row(t, "deals", "deal_2"), map[string]any{"campaign_id": nil, "currency": "JPY", "amount": 5000})

	var n int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+db.schema+`.events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := len(s.inOrder()); n != want {
		t.Errorf("events rows = %d, want %d", n, want)
	}
	var typ string
	if err := db.pool.QueryRow(t.Context(), `SELECT type FROM `+db.schema+`.events WHERE stream_id = 'cus_1' AND area = 'customers' AND version = 2`).Scan(&typ); err != nil || typ != cus.TypeCustomerUpdated {
		t.Errorf("history of cus_1 v2 = %q (%v), want CustomerUpdated", typ, err)
	}
}

// TestCrossAreaOrderConverges applies the same per-area logs in opposite
// area orders (and, within the campaigns area, the deal streams before the
// campaign stream, as partitions allow) and expects identical read models.
func TestCrossAreaOrderConverges(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	forward, backward := newReadDB(t), newReadDB(t)
	forward.apply(t, All(), s.inOrder()...)

	// Reverse the areas; within campaigns, deals first (per-stream order kept).
	var deals, camps []delivered
	for _, d := range s.campaigns {
		if len(d.ev.StreamID) > 5 && d.ev.StreamID[:5] == "deal_" {
			deals = append(deals, d)
		} else {
			camps = append(camps, d)
		}
	}
	var rev []delivered
	rev = append(rev, deals...)
	rev = append(rev, camps...)
	rev = append(rev, s.appointments...)
	rev = append(rev, s.relationships...)
	rev = append(rev, s.customers...)
	backward.apply(t, All(), rev...)

	// Interleaved one event at a time, round robin over the areas.
	inter := newReadDB(t)
	parts := [][]delivered{s.appointments, s.campaigns, s.relationships, s.customers}
	for i := 0; ; i++ {
		any := false
		for _, p := range parts {
			if i < len(p) {
				inter.apply(t, All(), p[i])
				any = true
			}
		}
		if !any {
			break
		}
	}

	a, b, c := forward.dump(t, All()...), backward.dump(t, All()...), inter.dump(t, All()...)
	for table, rows := range a {
		if len(rows) == 0 {
			t.Errorf("%s: empty", table)
		}
		for name, other := range map[string]map[string][]string{"reversed": b, "interleaved": c} {
			if len(other[table]) != len(rows) {
				t.Errorf("%s %s: %d rows, want %d", name, table, len(other[table]), len(rows))
				continue
			}
			for i := range rows {
				if other[table][i] != rows[i] {
					t.Errorf("%s %s row %d:\n got %s\nwant %s", name, table, i, other[table][i], rows[i])
				}
			}
		}
	}
}

func TestChangesNameRowsAndRefs(t *testing.T) {
	t.Parallel()
	db := newReadDB(t)
	s := newScenario(t)

	// Appointment before anyone's name is known, then the names arrive.
	chs := db.apply(t, All(), s.appointments[0])
	if !hasChange(chs["appointments"], KindAppointment, "apt_1", map[string]string{RefCustomer: "cus_1", RefSalesperson: "sp_r"}) {
		t.Errorf("appointments changes = %+v", chs["appointments"])
	}
	if !hasChange(chs["customers"], KindCustomer, "cus_1", map[string]string{RefCustomer: "cus_1"}) {
		t.Errorf("customers changes = %+v", chs["customers"])
	}
	if !hasChange(chs["events"], KindEvent, s.appointments[0].ev.ID, nil) {
		t.Errorf("events changes = %+v", chs["events"])
	}
	if got := db.row(t, "customers", "cus_1"); got["registered"] != false || got["upcoming_appointment_count"] != float64(1) {
		t.Errorf("customer placeholder = %v", got)
	}
	if got := db.row(t, "appointments", "apt_1"); got["customer_name"] != nil {
		t.Errorf("customer name before registration = %v", got["customer_name"])
	}

	chs = db.apply(t, All(), s.customers[0]) // CustomerRegistered cus_1
	if !hasChange(chs["appointments"], KindAppointment, "apt_1", map[string]string{RefCustomer: "cus_1", RefSalesperson: "sp_r"}) {
		t.Errorf("name arrival: appointments changes = %+v", chs["appointments"])
	}
	want(t, "apt_1", db.row(t, "appointments", "apt_1"), map[string]any{"customer_name": "Ada Lovelace"})

	chs = db.apply(t, All(), s.relationships[2]) // AccountTeamAssigned
	if !hasChange(chs["customers"], KindCustomer, "cus_1", map[string]string{RefCustomer: "cus_1", RefSalesperson: "sp_r"}) {
		t.Errorf("team: customers changes = %+v", chs["customers"])
	}
	if len(chs["appointments"]) != 0 || len(chs["salespeople"]) != 0 || len(chs["campaigns"]) != 0 {
		t.Errorf("team changed other projections: %+v", chs)
	}

	chs = db.apply(t, All(), s.campaigns[1], s.campaigns[4]) // CampaignCreated, DealOpened deal_1
	if !hasChange(chs["campaigns"], KindDeal, "deal_1", map[string]string{RefCustomer: "cus_1", RefCampaign: "cmp_1", RefSalesperson: "sp_r"}) ||
		!hasChange(chs["campaigns"], KindCampaign, "cmp_1", map[string]string{RefCampaign: "cmp_1"}) {
		t.Errorf("deal: campaigns changes = %+v", chs["campaigns"])
	}
	if !hasChange(chs["customers"], KindCustomer, "cus_1", map[string]string{RefSalesperson: "sp_r"}) {
		t.Errorf("deal: customers changes = %+v", chs["customers"])
	}
	want(t, "cus_1", db.row(t, "customers", "cus_1"), map[string]any{"open_deal_count": 1})
	want(t, "cmp_1", db.row(t, "campaigns", "cmp_1"), map[string]any{"open_deal_count": 1, "status": "DRAFT"})

	// Events a projection does not use change nothing in it.
	chs = db.apply(t, All(), s.customers[1]) // CustomerEmailClaimed
	if len(chs["customers"]) != 0 || len(chs["appointments"]) != 0 || len(chs["events"]) != 1 {
		t.Errorf("email claim changes = %+v", chs)
	}
}

// TestMalformedEventFails: a projection refuses data it cannot decode, so
// the consumer retries and parks it instead of applying half of it.
func TestMalformedEventFails(t *testing.T) {
	t.Parallel()
	db := newReadDB(t)
	f := newFeed(AreaCustomers)
	d := f.ev(t, cus.CustomerRegistered{CustomerID: "cus_x"})
	d.ev.Data = []byte(`{"customerId": 5}`)
	for _, p := range []Projection{Customers{}, Appointments{}} {
		tx, err := db.pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := applyEvents(t.Context(), tx, p, db.schema, d.area, []eventlog.Event{d.ev}); err == nil {
			t.Errorf("%s: malformed event applied", p.Name())
		}
		_ = tx.Rollback(t.Context())
	}
}
