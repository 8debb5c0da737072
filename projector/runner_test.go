package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/relay"
	"crm/eventlog/testenv"
	apt "crm/services/appointments/contract"
	cmp "crm/services/campaigns/contract"
	cus "crm/services/customers/contract"
	rel "crm/services/relationships/contract"
)

const testParts = 4

// areaLog is one area's real event log with its real relay running.
type areaLog struct{ log *eventlog.Log }

func startArea(t *testing.T, ctx context.Context, name string, rdb *redis.Client, ns string) *areaLog {
	t.Helper()
	pool, schema := testenv.Schema(t)
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	r, err := relay.New(relay.Config{Pool: pool, Schema: schema, Area: name, Source: l, Redis: rdb, Namespace: ns,
		Partitions: testParts, PollInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay %s: %v", name, err)
		}
	})
	return &areaLog{log: l}
}

func (a *areaLog) append(t *testing.T, e domainEvent) eventlog.Event {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.log.Append(context.Background(), e.StreamID(), eventlog.AnyVersion, eventlog.Metadata{Actor: "test"},
		eventlog.NewEvent{Type: e.EventType(), Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return res.Events[0]
}

// announcements collects what the projector publishes.
type announcements struct {
	mu  sync.Mutex
	got []Announcement
}

func (a *announcements) find(projection, kind, id string, refs map[string]string) (Announcement, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, an := range a.got {
		if an.Projection == projection && hasChange(an.Changes, kind, id, refs) {
			return an, true
		}
	}
	return Announcement{}, false
}

func TestRunnerAppliesAndAnnounces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, ns := testenv.Redis(t)
	db := newReadDB(t)

	areas := map[string]*areaLog{}
	sources := map[string]consumer.LogSource{}
	heads := map[string]HeadReader{}
	for _, name := range []string{AreaCustomers, AreaRelationships, AreaAppointments, AreaCampaigns} {
		areas[name] = startArea(t, ctx, name, rdb, ns)
		sources[name] = areas[name].log
		heads[name] = areas[name].log
	}
	// One area read over HTTP, as a projector process reads a service.
	srv := httptest.NewServer(eventlog.NewHandler(areas[AreaCustomers].log))
	t.Cleanup(srv.Close)
	client := &eventlog.Client{BaseURL: srv.URL}
	sources[AreaCustomers], heads[AreaCustomers] = client, client

	sub := rdb.Subscribe(ctx, ChannelName(ns))
	t.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription is confirmed
		t.Fatal(err)
	}
	var anns announcements
	go func() {
		for m := range sub.Channel() {
			var as []Announcement
			if err := json.Unmarshal([]byte(m.Payload), &as); err != nil {
				t.Errorf("announcement %q: %v", m.Payload, err)
				continue
			}
			anns.mu.Lock()
			anns.got = append(anns.got, as...)
			anns.mu.Unlock()
		}
	}()

	// A Redis client whose pool fits every blocking read of 12 consumers.
	opt := rdb.Options()
	opt.PoolSize = 12*testParts + 8
	prdb := redis.NewClient(opt)
	t.Cleanup(func() { prdb.Close() })
	r, err := New(Config{Pool: db.pool, Schema: db.schema, Redis: prdb, Namespace: ns, Partitions: testParts,
		Sources: sources, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Consumer: func(c *consumer.Config) { c.Block = 100 * time.Millisecond; c.LeaseTTL = 3 * time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// Cross-area arrival: the appointment and deal before the customer.
	future := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Second)
	areas[AreaRelationships].append(t, rel.SalespersonRegistered{SalespersonID: "sp_r", Name: "Linus", Email: "l@example.com",
		Role: rel.RoleSalesRep, RegisteredAt: time.Now().UTC()})
	areas[AreaAppointments].append(t, apt.AppointmentScheduled{AppointmentID: "apt_1", CustomerID: "cus_1", SalespersonID: "sp_r",
		StartsAt: future, EndsAt: future.Add(time.Hour), Location: "Office"})
	areas[AreaCampaigns].append(t, cmp.DealOpened{DealID: "deal_1", CustomerID: "cus_1", Product: "Yacht",
		Value: cmp.Money{Amount: "10.00", CurrencyCode: "EUR"}})
	reg := areas[AreaCustomers].append(t, cus.CustomerRegistered{CustomerID: "cus_1", Name: "Ada", Email: "ada@example.com",
		RegisteredAt: time.Now().UTC().Truncate(time.Microsecond)})
	areas[AreaRelationships].append(t, rel.AccountTeamAssigned{CustomerID: "cus_1", SalesRepID: "sp_r", AssignedAt: time.Now().UTC()})
	areas[AreaRelationships].append(t, rel.InterestRecorded{CustomerID: "cus_1", Interest: "Boats", Interests: []string{"Boats"},
		RecordedAt: time.Now().UTC()})

	testenv.Eventually(t, 20*time.Second, func() error {
		row := db.row(t, "customers", "cus_1")
		if row == nil || row["registered"] != true || row["sales_rep_id"] != "sp_r" || row["open_deal_count"] != float64(1) ||
			row["upcoming_appointment_count"] != float64(1) || row["next_appointment_id"] != "apt_1" || len(row["interests"].([]any)) != 1 {
			return fmt.Errorf("customer row %v", row)
		}
		apt := db.row(t, "appointments", "apt_1")
		if apt == nil || apt["customer_name"] != "Ada" || apt["salesperson_name"] != "Linus" {
			return fmt.Errorf("appointment row %v", apt)
		}
		return nil
	})

	testenv.Eventually(t, 10*time.Second, func() error {
		checks := []struct {
			proj, kind, id string
			refs           map[string]string
		}{
			{"customers", KindCustomer, "cus_1", map[string]string{RefCustomer: "cus_1", RefSalesperson: "sp_r"}},
			{"appointments", KindAppointment, "apt_1", map[string]string{RefCustomer: "cus_1", RefSalesperson: "sp_r"}},
			{"campaigns", KindDeal, "deal_1", map[string]string{RefCustomer: "cus_1"}},
			{"salespeople", KindSalesperson, "sp_r", map[string]string{RefSalesperson: "sp_r"}},
			{"events", KindEvent, reg.ID, map[string]string{"streamId": "cus_1"}},
		}
		for _, c := range checks {
			if _, ok := anns.find(c.proj, c.kind, c.id, c.refs); !ok {
				return fmt.Errorf("no announcement of %s %s %s %v", c.proj, c.kind, c.id, c.refs)
			}
		}
		return nil
	})

	// The registration's announcement carries its partition and checkpoint.
	an, ok := anns.find("events", KindEvent, reg.ID, nil)
	var pp PartitionPosition
	for _, x := range an.Positions {
		if x.Partition == eventlog.Partition("cus_1", testParts) {
			pp = x
		}
	}
	if !ok || an.Area != AreaCustomers || pp.Position < reg.Position {
		t.Errorf("announcement of the registration = %+v", an)
	}
	cps, err := consumer.Checkpoints(ctx, db.pool, db.schema, ConsumerName("events"), AreaCustomers)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range an.Positions {
		if cps[x.Partition] < x.Position {
			t.Errorf("checkpoint %d below announced position %d", cps[x.Partition], x.Position)
		}
	}

	// The HTTP client reads the same head as the log itself.
	hc, err := client.Head(ctx)
	hl, err2 := areas[AreaCustomers].log.Head(ctx)
	if err != nil || err2 != nil || hc != hl || hc < reg.Position {
		t.Errorf("Client.Head = %d (%v), Log.Head = %d (%v), registration at %d", hc, err, hl, err2, reg.Position)
	}

	// Status: caught up, nothing parked.
	testenv.Eventually(t, 10*time.Second, func() error {
		sts, err := Status(ctx, db.pool, db.schema, StatusOptions{Heads: heads, Partitions: testParts, CatchingUpLag: 1}, All()...)
		if err != nil {
			return err
		}
		for _, st := range sts {
			if st.State != StateRunning || st.Lag != 0 || st.DeadLettered != 0 || st.UpdatedAt == nil || len(st.UnknownHeads) != 0 {
				return fmt.Errorf("status %+v", st)
			}
		}
		return nil
	})
}

func TestStatusLagAndStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newReadDB(t)
	heads := map[string]HeadReader{AreaRelationships: fixedHead(10), AreaCustomers: failingHead{}}
	// Partition 0 at 7, partition 1 through 9: lowest mark 7, lag 3.
	if _, err := db.pool.Exec(ctx, `INSERT INTO `+db.schema+`.consumer_checkpoints (name, area, partition, position, through)
		VALUES ('read.salespeople', 'relationships', 0, 7, 0), ('read.salespeople', 'relationships', 1, 2, 9)`); err != nil {
		t.Fatal(err)
	}
	sts, err := Status(ctx, db.pool, db.schema, StatusOptions{Heads: heads, Partitions: 2, CatchingUpLag: 3},
		Salespeople{}, Appointments{})
	if err != nil {
		t.Fatal(err)
	}
	if st := sts[0]; st.Lag != 3 || st.State != StateCatchingUp || st.UpdatedAt == nil {
		t.Errorf("salespeople %+v", st)
	}
	// Appointments: no checkpoints (lag = head), customers' head unknown,
	// appointments' head missing.
	if st := sts[1]; st.Lag != 10 || len(st.UnknownHeads) != 2 || st.UpdatedAt != nil {
		t.Errorf("appointments %+v", st)
	}

	if _, err := db.pool.Exec(ctx, `INSERT INTO `+db.schema+`.consumer_dead_letters (name, area, position, partition, event_id,
		stream_id, version, type, data, metadata, recorded_at, error, attempts, consumer_id)
		VALUES ('read.salespeople', 'relationships', 8, 0, 'e', 's', 1, 'X', '{}', '{}', now(), 'boom', 5, 'c')`); err != nil {
		t.Fatal(err)
	}
	sts, err = Status(ctx, db.pool, db.schema, StatusOptions{Heads: heads, Partitions: 2,
		Rebuilding: func(name string) bool { return name == "appointments" }}, Salespeople{}, Appointments{})
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].State != StateStalled || sts[0].DeadLettered != 1 || sts[1].State != StateRebuilding {
		t.Errorf("states %+v", sts)
	}
}

type fixedHead int64

func (h fixedHead) Head(context.Context) (int64, error) { return int64(h), nil }

type failingHead struct{}

func (failingHead) Head(context.Context) (int64, error) { return 0, errors.New("down") }

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Schema: "Bad-Schema", Sources: map[string]consumer.LogSource{}})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"Pool is required", "invalid Schema", "Redis is required", `needs source "customers"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
