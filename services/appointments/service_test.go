package appointments_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/appointments"
	"crm/services/appointments/contract"
	"crm/services/appointments/domain"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/wire"
)

func TestScheduleRescheduleCancelComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cus, sp := e.facts.customer(domain.CustomerActive), e.facts.salesperson()
	d := day()
	// Any offset is accepted and stored in UTC, to the microsecond.
	body := slot(cus, sp, d, d.Add(time.Hour))
	body["startsAt"] = d.In(time.FixedZone("CET", 3600)).Add(123 * time.Nanosecond).Format(time.RFC3339Nano)
	res := kittest.PostAs(t, e.h, "user-7", "schedule-appointment", body, wire.HeaderCorrelationID, "corr-1",
		wire.HeaderConsistencyToken, "customers:3,relationships:9").OK(t)
	if !ids.Valid(ids.Appointment, res.StreamID) || res.Version != 1 || res.Area != appointments.Area || res.Position != 2 || len(res.Events) != 2 {
		t.Fatalf("result %+v", res)
	}
	id := res.StreamID
	if tok := e.facts.lastToken(); tok["customers"] != 3 || tok["relationships"] != 9 {
		t.Fatalf("facts were asked with token %v", tok)
	}
	ev := res.Events[0]
	if ev.Type != domain.TypeAppointmentScheduled || ev.StreamID != id || ev.Metadata.CorrelationID != "corr-1" || ev.Metadata.Actor != "user-7" ||
		!strings.Contains(string(ev.Data), `"startsAt":"`+rfc(d)+`"`) {
		t.Fatalf("event %+v %s", ev, ev.Data)
	}
	if cal := res.Events[1]; cal.Type != domain.TypeCalendarSlotBooked || cal.StreamID != contract.CalendarStreamID(sp) {
		t.Fatalf("calendar event %+v", cal)
	}

	re := kittest.Post(t, e.h, "reschedule-appointment", map[string]any{"id": id, "expectedVersion": 1,
		"startsAt": rfc(d.Add(2 * time.Hour)), "endsAt": rfc(d.Add(3 * time.Hour))}).OK(t)
	if re.Version != 2 || re.StreamID != id || re.Events[0].Type != domain.TypeAppointmentRescheduled {
		t.Fatalf("reschedule %+v", re)
	}
	// The same times and location again change nothing.
	same := kittest.Post(t, e.h, "reschedule-appointment", map[string]any{"id": id, "location": "Head office",
		"startsAt": rfc(d.Add(2 * time.Hour)), "endsAt": rfc(d.Add(3 * time.Hour))}).OK(t)
	if same.Version != 2 || same.Position != 0 || len(same.Events) != 0 {
		t.Fatalf("no-op reschedule %+v", same)
	}
	// The old slot is free again; the new one is not.
	other := e.facts.customer(domain.CustomerActive)
	e.schedule(t, other, sp, d, d.Add(time.Hour))
	kittest.Post(t, e.h, "schedule-appointment", slot(other, sp, d.Add(150*time.Minute), d.Add(4*time.Hour))).Refused(t, errcode.Conflict, "")
	// Back to back is no overlap.
	e.schedule(t, other, sp, d.Add(3*time.Hour), d.Add(4*time.Hour))

	ca := kittest.Post(t, e.h, "cancel-appointment", map[string]any{"id": id, "expectedVersion": 2, "reason": " client ill "}).OK(t)
	if ca.Version != 3 || ca.Events[0].Type != domain.TypeAppointmentCancelled || ca.Events[1].Type != domain.TypeCalendarSlotReleased {
		t.Fatalf("cancel %+v", ca)
	}
	if a := e.appointment(t, id); a.Status != domain.StatusCancelled || a.CancellationReason != "client ill" {
		t.Fatalf("cancelled appointment %+v", a)
	}
	e.schedule(t, other, sp, d.Add(2*time.Hour), d.Add(3*time.Hour)) // the cancelled slot is free

	// A meeting recorded after the fact, then completed.
	now := time.Now().UTC()
	past := e.schedule(t, cus, sp, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	co := kittest.Post(t, e.h, "complete-appointment", map[string]any{"id": past, "notes": "Signed.\nFollow up in May."}).OK(t)
	if co.Version != 2 || co.Events[0].Type != domain.TypeAppointmentCompleted {
		t.Fatalf("complete %+v", co)
	}
	if a := e.appointment(t, past); a.Status != domain.StatusCompleted || a.Notes != "Signed.\nFollow up in May." {
		t.Fatalf("completed appointment %+v", a)
	}

	before := kittest.Head(t, e.l)
	kittest.Post(t, e.h, "cancel-appointment", map[string]any{"id": id, "reason": "again"}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, e.h, "complete-appointment", map[string]any{"id": past}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, e.h, "reschedule-appointment", map[string]any{"id": past, "startsAt": rfc(d), "endsAt": rfc(d.Add(time.Hour))}).
		Refused(t, errcode.Conflict, "")
	if kittest.Head(t, e.l) != before {
		t.Fatal("refused commands recorded events")
	}
}

func TestRefusalsRecordNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cus, sp := e.facts.customer(domain.CustomerActive), e.facts.salesperson()
	archived := e.facts.customer(domain.CustomerActive)
	d := day()
	taken := e.schedule(t, cus, sp, d, d.Add(time.Hour))
	movable := e.schedule(t, cus, sp, d.Add(2*time.Hour), d.Add(3*time.Hour))
	ofArchived := e.schedule(t, archived, sp, d.Add(5*time.Hour), d.Add(6*time.Hour))
	e.facts.set(archived, domain.CustomerArchived)
	cancelled := e.schedule(t, cus, sp, d.Add(7*time.Hour), d.Add(8*time.Hour))
	kittest.Post(t, e.h, "cancel-appointment", map[string]any{"id": cancelled, "reason": "moved"}).OK(t)
	started := e.schedule(t, cus, sp, time.Now().Add(-3*time.Hour), time.Now().Add(-2*time.Hour))
	broken := e.facts.customer(domain.CustomerActive)
	e.facts.broken = broken
	before := kittest.Head(t, e.l)

	sched := func(change func(map[string]any)) map[string]any {
		b := slot(cus, sp, d.Add(10*time.Hour), d.Add(11*time.Hour))
		change(b)
		return b
	}
	unknownApt := ids.New(ids.Appointment)
	cases := []struct {
		name, cmd string
		body      any
		code      errcode.Code
		field     string
	}{
		{"missing customer", "schedule-appointment", sched(func(b map[string]any) { delete(b, "customerId") }), errcode.BadUserInput, "customerId"},
		{"malformed customer", "schedule-appointment", sched(func(b map[string]any) { b["customerId"] = "cus_1" }), errcode.BadUserInput, "customerId"},
		{"salesperson id as customer", "schedule-appointment", sched(func(b map[string]any) { b["customerId"] = sp }), errcode.BadUserInput, "customerId"},
		{"malformed salesperson", "schedule-appointment", sched(func(b map[string]any) { b["salespersonId"] = "bob" }), errcode.BadUserInput, "salespersonId"},
		{"time not RFC 3339", "schedule-appointment", sched(func(b map[string]any) { b["startsAt"] = "tomorrow at 9" }), errcode.BadUserInput, "startsAt"},
		{"time not a string", "schedule-appointment", sched(func(b map[string]any) { b["endsAt"] = 12 }), errcode.BadUserInput, "endsAt"},
		{"missing end", "schedule-appointment", sched(func(b map[string]any) { delete(b, "endsAt") }), errcode.BadUserInput, "endsAt"},
		{"end before start", "schedule-appointment", sched(func(b map[string]any) { b["endsAt"] = rfc(d.Add(9 * time.Hour)) }), errcode.BadUserInput, "endsAt"},
		{"longer than 8 hours", "schedule-appointment", sched(func(b map[string]any) { b["endsAt"] = rfc(d.Add(19 * time.Hour)) }), errcode.BadUserInput, "endsAt"},
		{"empty location", "schedule-appointment", sched(func(b map[string]any) { b["location"] = "  " }), errcode.BadUserInput, "location"},
		{"unknown field", "schedule-appointment", sched(func(b map[string]any) { b["room"] = "4B" }), errcode.BadUserInput, "room"},
		{"not json", "schedule-appointment", []byte(`{"customerId":`), errcode.BadUserInput, "body"},
		{"unknown customer", "schedule-appointment", sched(func(b map[string]any) { b["customerId"] = ids.New(ids.Customer) }), errcode.NotFound, "customerId"},
		{"unknown salesperson", "schedule-appointment", sched(func(b map[string]any) { b["salespersonId"] = ids.New(ids.Salesperson) }), errcode.NotFound, "salespersonId"},
		{"archived customer", "schedule-appointment", sched(func(b map[string]any) { b["customerId"] = archived }), errcode.Conflict, ""},
		{"double booking", "schedule-appointment", slot(cus, sp, d.Add(30*time.Minute), d.Add(90*time.Minute)), errcode.Conflict, ""},
		{"replica behind", "schedule-appointment", sched(func(b map[string]any) {}), errcode.ConsistencyTimeout, ""},
		{"replica down", "schedule-appointment", sched(func(b map[string]any) { b["customerId"] = broken }), errcode.Unavailable, ""},

		{"reschedule malformed id", "reschedule-appointment", map[string]any{"id": "apt_x", "startsAt": rfc(d), "endsAt": rfc(d.Add(time.Hour))}, errcode.BadUserInput, "id"},
		{"reschedule customer id", "reschedule-appointment", map[string]any{"id": cus, "startsAt": rfc(d), "endsAt": rfc(d.Add(time.Hour))}, errcode.BadUserInput, "id"},
		{"reschedule unknown", "reschedule-appointment", map[string]any{"id": unknownApt, "startsAt": rfc(d), "endsAt": rfc(d.Add(time.Hour))}, errcode.NotFound, "id"},
		{"reschedule onto another", "reschedule-appointment", map[string]any{"id": movable, "startsAt": rfc(d.Add(30 * time.Minute)), "endsAt": rfc(d.Add(150 * time.Minute))}, errcode.Conflict, ""},
		{"reschedule stale version", "reschedule-appointment", map[string]any{"id": movable, "expectedVersion": 3, "startsAt": rfc(d.Add(12 * time.Hour)), "endsAt": rfc(d.Add(13 * time.Hour))}, errcode.Conflict, "expectedVersion"},
		{"reschedule bad time", "reschedule-appointment", map[string]any{"id": movable, "startsAt": "2026-13-01T00:00:00Z", "endsAt": rfc(d.Add(13 * time.Hour))}, errcode.BadUserInput, "startsAt"},
		{"reschedule too far ahead", "reschedule-appointment", map[string]any{"id": movable, "startsAt": rfc(d.AddDate(6, 0, 0)), "endsAt": rfc(d.AddDate(6, 0, 0).Add(time.Hour))}, errcode.BadUserInput, "startsAt"},
		{"reschedule cancelled", "reschedule-appointment", map[string]any{"id": cancelled, "startsAt": rfc(d.Add(12 * time.Hour)), "endsAt": rfc(d.Add(13 * time.Hour))}, errcode.Conflict, ""},
		{"reschedule archived customer", "reschedule-appointment", map[string]any{"id": ofArchived, "startsAt": rfc(d.Add(12 * time.Hour)), "endsAt": rfc(d.Add(13 * time.Hour))}, errcode.Conflict, ""},
		{"reschedule unknown field", "reschedule-appointment", map[string]any{"id": movable, "salespersonId": sp, "startsAt": rfc(d), "endsAt": rfc(d.Add(time.Hour))}, errcode.BadUserInput, "salespersonId"},

		{"cancel without reason", "cancel-appointment", map[string]any{"id": taken}, errcode.BadUserInput, "reason"},
		{"cancel long reason", "cancel-appointment", map[string]any{"id": taken, "reason": strings.Repeat("r", domain.MaxReasonLen+1)}, errcode.BadUserInput, "reason"},
		{"cancel unknown", "cancel-appointment", map[string]any{"id": unknownApt, "reason": "x"}, errcode.NotFound, "id"},
		{"cancel malformed id", "cancel-appointment", map[string]any{"id": "", "reason": "x"}, errcode.BadUserInput, "id"},
		{"cancel stale version", "cancel-appointment", map[string]any{"id": taken, "expectedVersion": 0, "reason": "x"}, errcode.Conflict, "expectedVersion"},
		{"cancel negative version", "cancel-appointment", map[string]any{"id": taken, "expectedVersion": -1, "reason": "x"}, errcode.BadUserInput, "expectedVersion"},
		{"cancel cancelled", "cancel-appointment", map[string]any{"id": cancelled, "reason": "x"}, errcode.Conflict, ""},

		{"complete before start", "complete-appointment", map[string]any{"id": taken}, errcode.Conflict, ""},
		{"complete long notes", "complete-appointment", map[string]any{"id": taken, "notes": strings.Repeat("n", domain.MaxNotesLen+1)}, errcode.BadUserInput, "notes"},
		{"complete unknown", "complete-appointment", map[string]any{"id": unknownApt}, errcode.NotFound, "id"},
		{"complete deal id", "complete-appointment", map[string]any{"id": ids.New(ids.Deal)}, errcode.BadUserInput, "id"},
		{"complete stale version", "complete-appointment", map[string]any{"id": started, "expectedVersion": 9}, errcode.Conflict, "expectedVersion"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.name == "replica behind" {
				hdr = []string{wire.HeaderConsistencyToken, "customers:" + fmt.Sprint(e.facts.head+1)}
			}
			kittest.Post(t, e.h, c.cmd, c.body, hdr...).Refused(t, c.code, c.field)
		})
	}
	if after := kittest.Head(t, e.l); after != before {
		t.Fatalf("refusals recorded %d events", after-before)
	}
}

// Overlapping bookings for one salesperson race from many goroutines and
// from two service instances on the same log (two processes, which share
// no lock): exactly one wins, every other is refused with CONFLICT.
func TestConcurrentOverlappingSchedules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	second := appointments.NewService(e.l, e.facts, e.pool)
	handlers := []http.Handler{e.h, kitMux(e, second)}
	sp := e.facts.salesperson()
	d := day()
	const n = 24
	answers := make(chan kittest.Answer, n)
	var wg sync.WaitGroup
	for i := range n {
		cus := e.facts.customer(domain.CustomerActive)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := d.Add(time.Duration(i) * time.Minute) // every pair overlaps
			answers <- kittest.Post(t, handlers[i%2], "schedule-appointment", slot(cus, sp, start, start.Add(time.Hour)))
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
		t.Fatalf("%d overlapping bookings succeeded", wins)
	}
	if head := kittest.Head(t, e.l); head != 2 {
		t.Fatalf("log holds %d events, want 2 (scheduled + booked)", head)
	}
}

// Non-overlapping bookings for one salesperson, all at once, all succeed:
// losing the race for the calendar stream is retried, never refused.
func TestConcurrentNonOverlappingSchedules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sps := []string{e.facts.salesperson(), e.facts.salesperson()}
	d := day()
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		cus := e.facts.customer(domain.CustomerActive)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := d.Add(time.Duration(i/2) * 30 * time.Minute)
			a := kittest.Post(t, e.h, "schedule-appointment", slot(cus, sps[i%2], start, start.Add(30*time.Minute)))
			if a.Status != http.StatusOK {
				t.Errorf("booking %d refused: %+v", i, a.Error)
			}
		}()
	}
	wg.Wait()
	if head := kittest.Head(t, e.l); head != 2*n {
		t.Fatalf("log holds %d events, want %d", head, 2*n)
	}
	for _, sp := range sps {
		evs, err := e.l.ReadAllStream(t.Context(), contract.CalendarStreamID(sp))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != n/2 {
			t.Fatalf("calendar of %s holds %d bookings, want %d", sp, len(evs), n/2)
		}
	}
}

func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cus, sp := e.facts.customer(domain.CustomerActive), e.facts.salesperson()
	d := day()
	body := slot(cus, sp, d, d.Add(time.Hour))
	body["idempotencyKey"] = "k-1"
	first := kittest.Post(t, e.h, "schedule-appointment", body).OK(t)
	// Even once the customer is archived, the retry answers the first
	// outcome: the key is looked up before anything is decided.
	e.facts.set(cus, domain.CustomerArchived)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again := kittest.Post(t, e.h, "schedule-appointment", body).OK(t)
			if !again.Duplicate || again.StreamID != first.StreamID || again.Position != first.Position || again.Version != 1 {
				t.Errorf("retry answered %+v, first %+v", again, first)
			}
		}()
	}
	wg.Wait()
	if head := kittest.Head(t, e.l); head != 2 {
		t.Fatalf("log holds %d events, want 2", head)
	}
	cancel := map[string]any{"idempotencyKey": "k-1", "id": first.StreamID, "reason": "archived"}
	c1 := kittest.Post(t, e.h, "cancel-appointment", cancel).OK(t)
	c2 := kittest.Post(t, e.h, "cancel-appointment", cancel).OK(t)
	if c1.Duplicate || !c2.Duplicate || c2.Version != 2 || c2.Position != c1.Position {
		t.Fatalf("cancel %+v then %+v", c1, c2)
	}
	if head := kittest.Head(t, e.l); head != 4 {
		t.Fatalf("log holds %d events, want 4", head)
	}
	// The body of a result is what the log holds.
	var data struct{ Reason string }
	if err := json.Unmarshal(c2.Events[0].Data, &data); err != nil || data.Reason != "archived" {
		t.Fatalf("duplicate answered %s (%v)", c2.Events[0].Data, err)
	}
}

func kitMux(e *env, svc *appointments.Service) http.Handler {
	return kit.Mux(e.l, kittest.Key(), svc.Routes(slog.Default())...)
}
