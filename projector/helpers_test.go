package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/testenv"
)

// readDB is a migrated read schema of one test.
type readDB struct {
	pool   *pgxpool.Pool
	schema string
}

func newReadDB(t *testing.T) *readDB {
	t.Helper()
	pool, schema := testenv.Schema(t)
	if err := Migrate(context.Background(), pool, schema, All()...); err != nil {
		t.Fatal(err)
	}
	return &readDB{pool: pool, schema: schema}
}

// domainEvent is any area's domain event: its type names the event and
// its JSON is the event's data, exactly as the area's service records it.
type domainEvent interface {
	EventType() string
	StreamID() string
}

// feed builds events the way an area's log numbers them: positions in
// order of creation, versions per stream.
type feed struct {
	area     string
	pos      int64
	versions map[string]int64
	at       time.Time
}

func newFeed(area string) *feed {
	return &feed{area: area, versions: map[string]int64{}, at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (f *feed) ev(t *testing.T, e domainEvent) delivered {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	f.pos++
	f.versions[e.StreamID()]++
	f.at = f.at.Add(time.Second)
	return delivered{area: f.area, ev: eventlog.Event{
		ID: fmt.Sprintf("evt_%s_%d", f.area, f.pos), StreamID: e.StreamID(), Version: f.versions[e.StreamID()],
		Position: f.pos, Type: e.EventType(), Data: data, RecordedAt: f.at,
	}}
}

// delivered is one event as a projection's consumer of area receives it.
type delivered struct {
	area string
	ev   eventlog.Event
}

// apply applies evs, each in its own transaction, to every projection in
// ps that follows its area, and returns the changes by projection.
func (db *readDB) apply(t *testing.T, ps []Projection, evs ...delivered) map[string][]Change {
	t.Helper()
	ctx := context.Background()
	out := map[string][]Change{}
	for _, d := range evs {
		for _, p := range ps {
			if !slices.Contains(p.Sources(), d.area) {
				continue
			}
			tx, err := db.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := applyEvents(ctx, tx, p, db.schema, d.area, []eventlog.Event{d.ev})
			var chs []Change
			if err == nil {
				chs = res[0]
			}
			if err != nil {
				_ = tx.Rollback(ctx)
				t.Fatalf("%s: apply %s/%s: %v", p.Name(), d.area, d.ev.Type, err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			out[p.Name()] = append(out[p.Name()], chs...)
		}
	}
	return out
}

// row returns one row of table as a JSON object (without seq), or nil.
func (db *readDB) row(t *testing.T, table, id string) map[string]any {
	t.Helper()
	var raw []byte
	err := db.pool.QueryRow(context.Background(), `SELECT to_jsonb(x) - 'seq' FROM `+db.schema+`.`+table+` x WHERE id = $1`, id).Scan(&raw)
	if err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return nil
		}
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// dump returns every row of every table of ps (without seq), sorted, for
// comparing two read models.
func (db *readDB) dump(t *testing.T, ps ...Projection) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range ps {
		for _, table := range p.Tables() {
			rows, err := db.pool.Query(context.Background(), `SELECT (to_jsonb(x) - 'seq')::text FROM `+db.schema+`.`+table+` x ORDER BY 1`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out[table] = append(out[table], s)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// want compares selected fields of a row (JSON-decoded values).
func want(t *testing.T, what string, got map[string]any, fields map[string]any) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no row", what)
		return
	}
	for k, v := range fields {
		gj, _ := json.Marshal(got[k])
		wj, _ := json.Marshal(v)
		if string(gj) != string(wj) {
			t.Errorf("%s.%s = %s, want %s", what, k, gj, wj)
		}
	}
}

// hasChange reports whether chs names kind/id with at least the refs given.
func hasChange(chs []Change, kind, id string, refs map[string]string) bool {
	for _, c := range chs {
		if c.Kind != kind || c.ID != id {
			continue
		}
		ok := true
		for k, v := range refs {
			if c.Refs[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// applyEvents applies evs of area to p's tables in schema in one batch on
// q (a transaction) and returns what changed per event. On failure,
// consumer.FailedEvent tells which event.
func applyEvents(ctx context.Context, q interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, p Projection, schema, area string, evs []eventlog.Event) ([][]Change, error) {
	res, err := consumer.ApplyEvents(ctx, q, handler(p, schema, area), evs)
	if err != nil {
		return nil, err
	}
	out := make([][]Change, len(res))
	for i, r := range res {
		out[i] = *r.(*[]Change)
	}
	return out, nil
}
