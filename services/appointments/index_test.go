package appointments_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"crm/eventlog"
	"crm/eventlog/ids"
	"crm/eventlog/testenv"
	"crm/services/appointments"
	"crm/services/appointments/domain"
	"crm/services/kit"
	"crm/services/kit/kittest"
)

func recorded(t *testing.T, pos int64, version int64, e domain.Event) eventlog.Event {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return eventlog.Event{ID: ids.New("ev"), StreamID: e.StreamID(), Version: version, Position: pos, Type: e.EventType(), Data: data}
}

// Inline writes one statement per commit, with one row per appointment:
// its last event in the commit. Calendar events need no statement.
func TestInlineStatements(t *testing.T) {
	t.Parallel()
	a, b := ids.New(ids.Appointment), ids.New(ids.Appointment)
	cus, sp := ids.New(ids.Customer), ids.New(ids.Salesperson)
	t0 := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	inline := appointments.Inline("appts")
	stmts, err := inline([]eventlog.Event{
		recorded(t, 10, 1, domain.AppointmentScheduled{AppointmentID: a, CustomerID: cus, SalespersonID: sp, StartsAt: t0, EndsAt: t0.Add(time.Hour), Location: "x"}),
		recorded(t, 11, 1, domain.CalendarSlotBooked{SalespersonID: sp, AppointmentID: a, StartsAt: t0, EndsAt: t0.Add(time.Hour)}),
		recorded(t, 12, 3, domain.AppointmentRescheduled{AppointmentID: b, CustomerID: cus, SalespersonID: sp, StartsAt: t0.Add(2 * time.Hour), EndsAt: t0.Add(3 * time.Hour)}),
		recorded(t, 13, 2, domain.AppointmentCancelled{AppointmentID: a, CustomerID: cus, SalespersonID: sp, StartsAt: t0, EndsAt: t0.Add(time.Hour), Reason: "r"}),
		{ID: "x", StreamID: "other", Version: 1, Position: 14, Type: "SomethingElse", Data: json.RawMessage(`{}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 1 || len(stmts[0].Args) != 8 {
		t.Fatalf("statements %+v", stmts)
	}
	args := stmts[0].Args
	want := []any{[]string{a, b}, []string{cus, cus}, []string{sp, sp},
		[]time.Time{t0, t0.Add(2 * time.Hour)}, []time.Time{t0.Add(time.Hour), t0.Add(3 * time.Hour)},
		[]string{"CANCELLED", "SCHEDULED"}, []int64{2, 3}, []int64{13, 12}}
	if !reflect.DeepEqual(args, want) {
		t.Fatalf("args %v, want %v", args, want)
	}
	if stmts, err := inline([]eventlog.Event{recorded(t, 1, 1, domain.CalendarSlotReleased{SalespersonID: sp, AppointmentID: a})}); err != nil || stmts != nil {
		t.Fatalf("calendar-only commit: %v, %v", stmts, err)
	}
	bad := eventlog.Event{ID: "y", StreamID: a, Version: 1, Position: 1, Type: domain.TypeAppointmentScheduled, Data: json.RawMessage(`{"startsAt":1}`)}
	if _, err := inline([]eventlog.Event{bad}); err == nil {
		t.Fatal("undecodable event accepted")
	}
	if _, err := appointments.Inline("no; drop")([]eventlog.Event{recorded(t, 10, 1, domain.AppointmentCompleted{AppointmentID: a})}); err == nil {
		t.Fatal("invalid schema accepted")
	}
}

// A log written before the index existed is indexed by Migrate; from then
// on the inline projection keeps the index in step.
func TestMigrateIndexesExistingLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := testenv.Schema(t)
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	plain, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	f := newFacts()
	h := kit.Mux(plain, kittest.Key(), appointments.NewService(plain, f, pool).Routes(slog.Default())...)
	cus, sp := f.customer(domain.CustomerActive), f.salesperson()
	d := day()
	kept := kittest.Post(t, h, "schedule-appointment", slot(cus, sp, d, d.Add(time.Hour))).OK(t).StreamID
	moved := kittest.Post(t, h, "schedule-appointment", slot(cus, sp, d.Add(2*time.Hour), d.Add(3*time.Hour))).OK(t).StreamID
	kittest.Post(t, h, "reschedule-appointment", map[string]any{"id": moved, "startsAt": rfc(d.Add(4 * time.Hour)), "endsAt": rfc(d.Add(5 * time.Hour))}).OK(t)
	called := kittest.Post(t, h, "schedule-appointment", slot(cus, sp, d.Add(6*time.Hour), d.Add(7*time.Hour))).OK(t).StreamID
	kittest.Post(t, h, "cancel-appointment", map[string]any{"id": called, "reason": "r"}).OK(t)
	plain.Close()

	for range 2 { // idempotent
		if err := appointments.Migrate(ctx, pool, schema); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]indexRow{
		kept:   {customer: cus, salesperson: sp, status: "SCHEDULED", starts: d, ends: d.Add(time.Hour), version: 1},
		moved:  {customer: cus, salesperson: sp, status: "SCHEDULED", starts: d.Add(4 * time.Hour), ends: d.Add(5 * time.Hour), version: 2},
		called: {customer: cus, salesperson: sp, status: "CANCELLED", starts: d.Add(6 * time.Hour), ends: d.Add(7 * time.Hour), version: 2},
	}
	if got := readIndex(t, pool, schema); !reflect.DeepEqual(got, want) {
		t.Fatalf("index after migrate %+v, want %+v", got, want)
	}

	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema, Inline: appointments.Inline(schema)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h = kit.Mux(l, kittest.Key(), appointments.NewService(l, f, pool).Routes(slog.Default())...)
	kittest.Post(t, h, "complete-appointment", map[string]any{"id": kept}).Refused(t, "CONFLICT", "") // not started: no change
	kittest.Post(t, h, "cancel-appointment", map[string]any{"id": kept, "reason": "r"}).OK(t)
	extra := kittest.Post(t, h, "schedule-appointment", slot(cus, sp, d.Add(10*time.Hour), d.Add(11*time.Hour))).OK(t).StreamID
	want[kept] = indexRow{customer: cus, salesperson: sp, status: "CANCELLED", starts: d, ends: d.Add(time.Hour), version: 2}
	want[extra] = indexRow{customer: cus, salesperson: sp, status: "SCHEDULED", starts: d.Add(10 * time.Hour), ends: d.Add(11 * time.Hour), version: 1}
	if got := readIndex(t, pool, schema); !reflect.DeepEqual(got, want) {
		t.Fatalf("index after inline writes %+v, want %+v", got, want)
	}
}
