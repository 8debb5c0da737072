package projector

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog"
	"crm/eventlog/testenv"
	apt "crm/services/appointments/contract"
	cmp "crm/services/campaigns/contract"
	cus "crm/services/customers/contract"
	rel "crm/services/relationships/contract"
)

// fuzzAreas are the areas an event may come from, by index.
var fuzzAreas = []string{AreaCustomers, AreaRelationships, AreaAppointments, AreaCampaigns}

// fuzzEvents are well-formed events of every type the areas record, as
// seeds; their types are the fuzzer's choice of type by index.
func fuzzEvents() []struct {
	area string
	e    domainEvent
} {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c, s, a, k, d := "cus_1", "sp_1", "apt_1", "cmp_1", "deal_1"
	money := cmp.Money{Amount: "1250.00", CurrencyCode: "EUR"}
	type ev = struct {
		area string
		e    domainEvent
	}
	return []ev{
		{AreaCustomers, cus.CustomerRegistered{CustomerID: c, Name: "Ada", Email: "ada@example.com", Phone: "+441234567890",
			Address: &cus.Address{City: "London"}, RegisteredAt: at}},
		{AreaCustomers, cus.CustomerUpdated{CustomerID: c, Name: "Ada K", Email: "ada@example.com", Changed: []string{"name"}, UpdatedAt: at}},
		{AreaCustomers, cus.CustomerArchived{CustomerID: c, Reason: "left", ArchivedAt: at}},
		{AreaCustomers, cus.CustomerEmailClaimed{Email: "ada@example.com", CustomerID: c, ClaimedAt: at}},
		{AreaCustomers, cus.CustomerEmailReleased{Email: "ada@example.com", CustomerID: c, ReleasedAt: at}},
		{AreaRelationships, rel.SalespersonRegistered{SalespersonID: s, Name: "Grace", Email: "g@example.com", Role: rel.RoleSalesRep,
			ManagerID: "sp_2", RegisteredAt: at}},
		{AreaRelationships, rel.SalespersonEmailClaimed{Email: "g@example.com", SalespersonID: s, ClaimedAt: at}},
		{AreaRelationships, rel.AccountTeamAssigned{CustomerID: c, SalesRepID: s, ManagerID: "sp_2", AssignedAt: at}},
		{AreaRelationships, rel.InterestRecorded{CustomerID: c, Interest: "Boats", Interests: []string{"Boats"}, RecordedAt: at}},
		{AreaRelationships, rel.InterestRemoved{CustomerID: c, Interest: "Boats", Interests: []string{}, RemovedAt: at}},
		{AreaRelationships, rel.ProductAdded{CustomerID: c, DealID: d, Product: "Yacht", Products: []string{"Yacht"}, AddedAt: at}},
		{AreaAppointments, apt.AppointmentScheduled{AppointmentID: a, CustomerID: c, SalespersonID: s, StartsAt: at, EndsAt: at.Add(time.Hour),
			Location: "Office"}},
		{AreaAppointments, apt.AppointmentRescheduled{AppointmentID: a, CustomerID: c, SalespersonID: s, StartsAt: at, EndsAt: at.Add(time.Hour),
			Location: "Office", PreviousStartsAt: at, PreviousEndsAt: at}},
		{AreaAppointments, apt.AppointmentCancelled{AppointmentID: a, CustomerID: c, SalespersonID: s, StartsAt: at, EndsAt: at, Reason: "ill"}},
		{AreaAppointments, apt.AppointmentCompleted{AppointmentID: a, CustomerID: c, SalespersonID: s, StartsAt: at, EndsAt: at, Notes: "ok"}},
		{AreaAppointments, apt.CalendarSlotBooked{SalespersonID: s, AppointmentID: a, StartsAt: at, EndsAt: at}},
		{AreaAppointments, apt.CalendarSlotReleased{SalespersonID: s, AppointmentID: a}},
		{AreaCampaigns, cmp.CampaignCreated{CampaignID: k, Name: "Spring", StartsAt: &at}},
		{AreaCampaigns, cmp.CampaignLaunched{CampaignID: k}},
		{AreaCampaigns, cmp.CampaignEnded{CampaignID: k}},
		{AreaCampaigns, cmp.OfferAdded{CampaignID: k, OfferID: "off_1", Product: "Yacht", DiscountPercent: 10, ValidUntil: &at}},
		{AreaCampaigns, cmp.DealOpened{DealID: d, CustomerID: c, CampaignID: k, OfferID: "off_1", Product: "Yacht", Value: money}},
		{AreaCampaigns, cmp.DealWon{DealID: d, CustomerID: c, CampaignID: k, Product: "Yacht", Value: money}},
		{AreaCampaigns, cmp.DealLost{DealID: d, CustomerID: c, Product: "Yacht", Value: money, Reason: "price"}},
	}
}

// FuzzApply feeds every projection one event of a chosen area and type
// (one of the recorded types by index, or any string) with arbitrary data,
// each in a transaction that is rolled back. Apply must not panic; an event
// it applies must not write garbage (a row, or a reference, whose id is
// empty), and data that is not JSON must be refused (the consumer parks
// it) or ignored without a write.
func FuzzApply(f *testing.F) {
	pool, schema := testenv.Schema(f)
	ctx := context.Background()
	if err := Migrate(ctx, pool, schema, All()...); err != nil {
		f.Fatal(err)
	}
	events := fuzzEvents()
	areaIndex := map[string]uint8{}
	for i, a := range fuzzAreas {
		areaIndex[a] = uint8(i)
	}
	for i, e := range events {
		data, err := json.Marshal(e.e)
		if err != nil {
			f.Fatal(err)
		}
		area := areaIndex[e.area]
		f.Add(area, uint8(i), "", data)
		for _, bad := range []string{`{}`, `null`, `[]`, `"x"`, `{"customerId":7}`, string(data[:len(data)/2]),
			strings.Replace(string(data), `"20`, `"x20`, 1), strings.Replace(string(data), `"1250.00"`, `"12e9999"`, 1),
			strings.Replace(string(data), `"1250.00"`, `"NaN"`, 1), strings.Replace(string(data), `"EUR"`, `"E\u0000"`, 1),
			strings.Replace(string(data), `"Ada"`, `"A\u0000da"`, 1)} {
			f.Add(area, uint8(i), "", []byte(bad))
		}
	}
	f.Add(uint8(0), uint8(255), "NoSuchEvent", []byte(`{"customerId":"cus_1"}`))
	f.Add(uint8(3), uint8(255), "", []byte(`not json`))
	f.Fuzz(func(t *testing.T, area, kind uint8, typ string, data []byte) {
		if int(kind) < len(events) {
			typ = events[kind].e.EventType()
		}
		ev := eventlog.Event{ID: "evt_1", StreamID: "stream_1", Version: 1, Position: 1, Type: typ, Data: data,
			RecordedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
		for _, p := range All() {
			checkApply(t, pool, schema, p, ev, fuzzAreas[int(area)%len(fuzzAreas)])
		}
	})
}

// checkApply applies ev to p in a transaction it rolls back, and checks
// what Apply wrote.
func checkApply(t *testing.T, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, schema string, p Projection, ev eventlog.Event, area string) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	res, err := applyEvents(ctx, tx, p, schema, area, []eventlog.Event{ev})
	if err != nil {
		return // parked by the consumer: nothing of it is committed
	}
	chs := res[0]
	for _, ch := range chs {
		if ch.ID == "" || ch.Kind == "" {
			t.Fatalf("%s: %s/%s %q: change %+v names no entity", p.Name(), area, ev.Type, ev.Data, ch)
		}
	}
	rows := garbage(t, tx, schema, p)
	if !json.Valid(ev.Data) && (len(chs) > 0 || rows > 0) {
		t.Fatalf("%s: %s/%s applied data that is not JSON: %q", p.Name(), area, ev.Type, ev.Data)
	}
}

// garbage fails the test if a row of p's tables (empty before Apply) has
// an empty id or an empty reference (a *_id column), or an amount or won
// total that is not a decimal the gateway can serve, and returns how many
// rows there are.
func garbage(t *testing.T, tx pgx.Tx, schema string, p Projection) int {
	t.Helper()
	n := 0
	for _, table := range p.Tables() {
		// row_to_json, not to_jsonb: events.data is json, which (unlike
		// jsonb, and so unlike any event the log holds) can carry \u0000.
		rows, err := tx.Query(context.Background(), `SELECT row_to_json(x)::text FROM `+schema+`.`+table+` x`)
		if err != nil {
			t.Fatalf("%s: read %s: %v", p.Name(), table, err)
		}
		for rows.Next() {
			n++
			var raw string
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				t.Fatal(err)
			}
			for col, v := range row {
				bad := (col == "id" || strings.HasSuffix(col, "_id")) && v == ""
				switch col {
				case "amount":
					bad = !decimal(v)
				case "won_totals":
					for _, total := range v.(map[string]any) {
						bad = bad || !decimal(total)
					}
				}
				if bad {
					t.Fatalf("%s: wrote a %s row with a malformed %s: %.300s", p.Name(), table, col, raw)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// decimalPattern is what the gateway's Decimal scalar may serve.
var decimalPattern = regexp.MustCompile(`^[0-9]{1,40}(\.[0-9]+)?$`)

func decimal(v any) bool {
	s, ok := v.(string)
	if n, isNumber := v.(json.Number); isNumber {
		s, ok = string(n), true
	}
	return ok && decimalPattern.MatchString(s)
}
