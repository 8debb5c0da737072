package appointments_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"crm/eventlog"
	"crm/services/appointments/domain"
	"crm/services/kit"
	"crm/services/kit/kittest"
)

// archived is a CustomerArchived event of the customer area, as the lead's
// reaction consumer hands it over.
func archived(customerID string, at time.Time) eventlog.Event {
	return eventlog.Event{ID: uuid.NewString(), StreamID: customerID, Version: 4, Position: 17, Type: "CustomerArchived",
		Data:     json.RawMessage(`{"customerId":"` + customerID + `"}`),
		Metadata: eventlog.Metadata{CorrelationID: "corr-archive", Actor: "user-9"}, RecordedAt: at}
}

func TestCustomerArchivedCancelsFutureAppointments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cus, other, sp := e.facts.customer(domain.CustomerActive), e.facts.customer(domain.CustomerActive), e.facts.salesperson()
	d, now := day(), time.Now().UTC()
	future := e.schedule(t, cus, sp, d, d.Add(time.Hour))
	moved := e.schedule(t, cus, sp, d.Add(2*time.Hour), d.Add(3*time.Hour))
	kittest.Post(t, e.h, "reschedule-appointment", map[string]any{"id": moved, "startsAt": rfc(d.Add(4 * time.Hour)), "endsAt": rfc(d.Add(5 * time.Hour))}).OK(t)
	started := e.schedule(t, cus, sp, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	called := e.schedule(t, cus, sp, d.Add(6*time.Hour), d.Add(7*time.Hour))
	kittest.Post(t, e.h, "cancel-appointment", map[string]any{"id": called, "reason": "postponed"}).OK(t)
	done := e.schedule(t, cus, sp, now.Add(-5*time.Hour), now.Add(-4*time.Hour))
	kittest.Post(t, e.h, "complete-appointment", map[string]any{"id": done}).OK(t)
	others := e.schedule(t, other, sp, d.Add(8*time.Hour), d.Add(9*time.Hour))

	cause := archived(cus, time.Now().UTC())
	before := kittest.Head(t, e.l)
	if err := e.svc.CustomerArchived(ctx, cus, cause); err != nil {
		t.Fatal(err)
	}
	evs, err := e.l.ReadLog(ctx, before, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 {
		t.Fatalf("the reaction recorded %d events, want 4 (two cancellations, two releases)", len(evs))
	}
	for _, ev := range evs {
		m := ev.Metadata
		target := ev.StreamID
		if ev.Type == domain.TypeCalendarSlotReleased {
			var rel domain.CalendarSlotReleased
			if err := json.Unmarshal(ev.Data, &rel); err != nil {
				t.Fatal(err)
			}
			target = rel.AppointmentID
		}
		if m.CausationID != cause.ID || m.CorrelationID != "corr-archive" || m.Actor != kit.ReactionActor || m.OnBehalfOf != "user-9" || m.IdempotencyKey != "reaction:"+cause.ID+":"+target {
			t.Fatalf("event %s of %s has metadata %+v", ev.Type, ev.StreamID, m)
		}
	}
	want := map[string]domain.Status{future: domain.StatusCancelled, moved: domain.StatusCancelled, started: domain.StatusScheduled,
		called: domain.StatusCancelled, done: domain.StatusCompleted, others: domain.StatusScheduled}
	idx := e.index(t)
	for id, st := range want {
		a := e.appointment(t, id)
		if a.Status != st || idx[id].status != string(st) {
			t.Fatalf("appointment %s is %s (index: %s), want %s", id, a.Status, idx[id].status, st)
		}
	}
	if a := e.appointment(t, future); a.CancellationReason != domain.ReasonCustomerArchived {
		t.Fatalf("cancelled with reason %q", a.CancellationReason)
	}
	if a := e.appointment(t, called); a.CancellationReason != "postponed" {
		t.Fatalf("an already cancelled appointment now has reason %q", a.CancellationReason)
	}

	// Redelivery, also concurrent, records nothing new; nor does another
	// cause for the same customer: nothing upcoming is left.
	head := kittest.Head(t, e.l)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.svc.CustomerArchived(ctx, cus, cause); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := e.svc.CustomerArchived(ctx, cus, archived(cus, time.Now().UTC())); err != nil {
		t.Fatal(err)
	}
	if after := kittest.Head(t, e.l); after != head {
		t.Fatalf("redelivery recorded %d events", after-head)
	}
	// The released slots are free for other customers.
	e.schedule(t, other, sp, d, d.Add(time.Hour))
}

// The reaction decides against the time of the archiving, not of the
// delivery: an appointment that started in between is still cancelled, and
// a late redelivery gives the same answer.
func TestCustomerArchivedDecidesAtArchiveTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cus, sp := e.facts.customer(domain.CustomerActive), e.facts.salesperson()
	now := time.Now().UTC()
	inBetween := e.schedule(t, cus, sp, now.Add(-30*time.Minute), now.Add(30*time.Minute))
	before := e.schedule(t, cus, sp, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	if err := e.svc.CustomerArchived(ctx, cus, archived(cus, now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if a := e.appointment(t, inBetween); a.Status != domain.StatusCancelled {
		t.Fatalf("appointment starting after the archiving is %s", a.Status)
	}
	if a := e.appointment(t, before); a.Status != domain.StatusScheduled {
		t.Fatalf("appointment started before the archiving is %s", a.Status)
	}
}

func TestCustomerArchivedRefusesMalformedCauses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cus := e.facts.customer(domain.CustomerActive)
	if err := e.svc.CustomerArchived(context.Background(), "cus_nope", archived(cus, time.Now())); err == nil {
		t.Fatal("a malformed customer id was accepted")
	}
	noID := archived(cus, time.Now())
	noID.ID = ""
	if err := e.svc.CustomerArchived(context.Background(), cus, noID); err == nil {
		t.Fatal("a cause without id was accepted")
	}
}
