package customers_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/eventlog/testenv"
	"crm/services/customers"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/wire"
)

func newAPI(t *testing.T) (http.Handler, *eventlog.Log) {
	t.Helper()
	l, _ := kittest.Log(t)
	svc := customers.NewService(l)
	return kit.Mux(l, kittest.Key(), svc.Routes(slog.Default())...), l
}

func register(t *testing.T, h http.Handler, email string) wire.Result {
	t.Helper()
	return kittest.Post(t, h, "register-customer", map[string]any{"name": "Ada Lovelace", "email": email, "phone": "+44 20 7946 0958"}).OK(t)
}

func TestRegisterUpdateArchive(t *testing.T) {
	t.Parallel()
	h, l := newAPI(t)
	res := kittest.PostAs(t, h, "user-7", "register-customer", map[string]any{
		"name": "  Ada  Lovelace ", "email": "Ada@Example.COM",
		"address": map[string]string{"city": "London", "country": "GB"},
	}, wire.HeaderCorrelationID, "corr-1", "X-Actor", "forged").OK(t)
	if !ids.Valid(ids.Customer, res.StreamID) || res.Version != 1 || res.Area != "customers" || res.Position != 2 {
		t.Fatalf("result %+v", res)
	}
	ev := res.Events[0]
	if ev.Type != "CustomerRegistered" || ev.Metadata.CorrelationID != "corr-1" || ev.Metadata.Actor != "user-7" ||
		!strings.Contains(string(ev.Data), `"email":"ada@example.com"`) {
		t.Fatalf("event %+v %s", ev, ev.Data)
	}
	id := res.StreamID

	up := kittest.Post(t, h, "update-customer", map[string]any{"id": id, "expectedVersion": 1, "phone": "+33 1 23 45 67 89"}).OK(t)
	if up.Version != 2 || up.StreamID != id {
		t.Fatalf("update %+v", up)
	}
	kittest.Post(t, h, "update-customer", map[string]any{"id": id, "expectedVersion": 1, "name": "X"}).
		Refused(t, errcode.Conflict, "expectedVersion")
	ar := kittest.Post(t, h, "archive-customer", map[string]any{"id": id, "reason": "left"}).OK(t)
	if ar.Version != 3 {
		t.Fatalf("archive %+v", ar)
	}
	before := kittest.Head(t, l)
	kittest.Post(t, h, "archive-customer", map[string]any{"id": id}).Refused(t, errcode.Conflict, "")
	kittest.Post(t, h, "update-customer", map[string]any{"id": id, "name": "Ada"}).Refused(t, errcode.Conflict, "")
	if kittest.Head(t, l) != before {
		t.Fatal("refused commands recorded events")
	}
	// The archived customer's email is free again.
	register(t, h, "ada@example.com")
}

func TestRefusalsRecordNothing(t *testing.T) {
	t.Parallel()
	h, l := newAPI(t)
	existing := register(t, h, "taken@example.com")
	before := kittest.Head(t, l)
	cases := []struct {
		name, cmd string
		body      any
		code      errcode.Code
		field     string
	}{
		{"bad email", "register-customer", map[string]any{"name": "A", "email": "not-an-email"}, errcode.BadUserInput, "email"},
		{"empty name", "register-customer", map[string]any{"name": " ", "email": "a@example.com"}, errcode.BadUserInput, "name"},
		{"long name", "register-customer", map[string]any{"name": strings.Repeat("n", 201), "email": "a@example.com"}, errcode.BadUserInput, "name"},
		{"bad phone", "register-customer", map[string]any{"name": "A", "email": "a@example.com", "phone": "call me"}, errcode.BadUserInput, "phone"},
		{"email taken", "register-customer", map[string]any{"name": "A", "email": "TAKEN@example.com"}, errcode.Conflict, "email"},
		{"unknown field", "register-customer", map[string]any{"name": "A", "email": "a@example.com", "nickname": "x"}, errcode.BadUserInput, "nickname"},
		{"wrong type", "register-customer", map[string]any{"name": 12, "email": "a@example.com"}, errcode.BadUserInput, "name"},
		{"not json", "register-customer", []byte(`{"name":`), errcode.BadUserInput, "body"},
		{"two values", "register-customer", []byte(`{"name":"A","email":"a@example.com"} {}`), errcode.BadUserInput, "body"},
		{"oversized", "register-customer", []byte(`{"name":"` + strings.Repeat("a", wire.MaxBodyBytes) + `"}`), errcode.BadUserInput, "body"},
		{"malformed id", "update-customer", map[string]any{"id": "cus_123", "name": "A"}, errcode.BadUserInput, "id"},
		{"wrong kind of id", "update-customer", map[string]any{"id": ids.New(ids.Deal), "name": "A"}, errcode.BadUserInput, "id"},
		{"unknown customer", "update-customer", map[string]any{"id": ids.New(ids.Customer), "name": "A"}, errcode.NotFound, ""},
		{"unknown customer archive", "archive-customer", map[string]any{"id": ids.New(ids.Customer)}, errcode.NotFound, ""},
		{"negative expected version", "archive-customer", map[string]any{"id": existing.StreamID, "expectedVersion": -1}, errcode.BadUserInput, "expectedVersion"},
		{"stale expected version", "archive-customer", map[string]any{"id": existing.StreamID, "expectedVersion": 7}, errcode.Conflict, "expectedVersion"},
		{"long idempotency key", "archive-customer", map[string]any{"id": existing.StreamID, "idempotencyKey": strings.Repeat("k", 201)}, errcode.BadUserInput, "idempotencyKey"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kittest.Post(t, h, c.cmd, c.body).Refused(t, c.code, c.field)
		})
	}
	kittest.Post(t, h, "register-customer", map[string]any{"name": "A", "email": "a@example.com"},
		wire.HeaderConsistencyToken, "garbage").Refused(t, errcode.BadUserInput, "consistencyToken")
	if after := kittest.Head(t, l); after != before {
		t.Fatalf("refusals recorded %d events", after-before)
	}
}

func TestConcurrentRegistrationOfOneEmail(t *testing.T) {
	t.Parallel()
	h, l := newAPI(t)
	const n = 24
	var wg sync.WaitGroup
	answers := make(chan kittest.Answer, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			answers <- kittest.Post(t, h, "register-customer", map[string]any{"name": fmt.Sprint("Racer ", i), "email": "Same@Example.com"})
		}(i)
	}
	wg.Wait()
	close(answers)
	wins := 0
	for a := range answers {
		if a.Status == http.StatusOK {
			wins++
			continue
		}
		a.Refused(t, errcode.Conflict, "email")
	}
	if wins != 1 {
		t.Fatalf("%d registrations of one email succeeded", wins)
	}
	if head := kittest.Head(t, l); head != 2 {
		t.Fatalf("log holds %d events, want 2 (registered + claimed)", head)
	}
}

func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	h, l := newAPI(t)
	body := map[string]any{"idempotencyKey": "k-1", "name": "Ada", "email": "ada@example.com"}
	first := kittest.Post(t, h, "register-customer", body).OK(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again := kittest.Post(t, h, "register-customer", body).OK(t)
			if !again.Duplicate || again.StreamID != first.StreamID || again.Position != first.Position || again.Version != 1 {
				t.Errorf("retry answered %+v, first %+v", again, first)
			}
		}()
	}
	wg.Wait()
	if head := kittest.Head(t, l); head != 2 {
		t.Fatalf("log holds %d events, want 2", head)
	}
	// The same key on another command is another key.
	kittest.Post(t, h, "archive-customer", map[string]any{"idempotencyKey": "k-1", "id": first.StreamID}).OK(t)
}

// readCounter counts the statements that read a stream or look up an
// idempotency key before an append.
type readCounter struct{ n atomic.Int64 }

func (c *readCounter) count(sql string) {
	if strings.Contains(sql, "WHERE stream_id = $1") || strings.Contains(sql, "idempotency WHERE key = $1") {
		c.n.Add(1)
	}
}

func (c *readCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.count(d.SQL)
	return ctx
}

func (c *readCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *readCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	for _, q := range d.Batch.QueuedQueries {
		c.count(q.SQL)
	}
	return ctx
}

func (c *readCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *readCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// A registration guesses that its email was never used: it reads nothing
// before its append. An email used before (its customer archived) fails
// the guess, and the registration is decided again on the claim as read.
func TestRegistrationOfANewEmailReadsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, schema := testenv.Schema(t)
	cfg, err := pgxpool.ParseConfig(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	reads := &readCounter{}
	cfg.ConnConfig.Tracer = reads
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l := kittest.LogOn(t, pool, schema)
	h := kit.Mux(l, kittest.Key(), customers.NewService(l).Routes(slog.Default())...)

	before := reads.n.Load()
	first := kittest.Post(t, h, "register-customer", map[string]any{"name": "Ada", "email": "ada@example.com", "idempotencyKey": "k"}).OK(t)
	if n := reads.n.Load() - before; n != 0 {
		t.Errorf("registering a new email read %d times before appending", n)
	}
	again := kittest.Post(t, h, "register-customer", map[string]any{"name": "Ada", "email": "ada@example.com", "idempotencyKey": "k"}).OK(t)
	if !again.Duplicate || again.StreamID != first.StreamID {
		t.Errorf("the repeated registration answered %+v, first %+v", again, first)
	}
	kittest.Post(t, h, "register-customer", map[string]any{"name": "Bob", "email": "ada@example.com"}).Refused(t, errcode.Conflict, "email")
	kittest.Post(t, h, "archive-customer", map[string]any{"id": first.StreamID}).OK(t)
	before = reads.n.Load()
	reused := kittest.Post(t, h, "register-customer", map[string]any{"name": "Ada", "email": "ada@example.com"}).OK(t)
	if reused.StreamID == first.StreamID || reads.n.Load() == before {
		t.Errorf("re-registering a freed email: %+v, %d reads", reused, reads.n.Load()-before)
	}
}
