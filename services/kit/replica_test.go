package kit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/testenv"
	"crm/services/kit"
)

// TestReplicaBatchEqualsOneByOne: the replica's one statement per batch
// folds the batch's changes of an entity in their order, so applying the
// events as one batch leaves the rows that applying them one at a time
// does: the last non-empty status, attributes merged with later values
// winning, the position of the last change, an existing row's status kept
// by changes without one.
func TestReplicaBatchEqualsOneByOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type step struct {
		id, status string
		attrs      map[string]any
	}
	steps := []step{
		{"a", "ACTIVE", map[string]any{"name": "A1", "city": "X"}},
		{"b", "ACTIVE", map[string]any{"name": "B1"}},
		{"a", "", map[string]any{"name": "A2"}},
		{"old", "", map[string]any{"name": "Old2"}},
		{"a", "ARCHIVED", nil},
		{"b", "", map[string]any{"phone": "1", "name": "B2"}},
		{"a", "", map[string]any{"city": "Y"}},
		{"c", "", nil},
	}
	evs := make([]eventlog.Event, len(steps))
	for i, s := range steps {
		data, _ := json.Marshal(map[string]any{"id": s.id, "status": s.status, "attrs": s.attrs})
		evs[i] = eventlog.Event{Position: int64(10 + i), ID: fmt.Sprint("ev", i), StreamID: s.id, Version: 1, Type: "Changed", Data: data}
	}
	mapper := func(ev eventlog.Event) ([]kit.Change, error) {
		var s struct {
			ID, Status string
			Attrs      map[string]any
		}
		if err := json.Unmarshal(ev.Data, &s); err != nil {
			return nil, err
		}
		return []kit.Change{{ID: s.ID, Status: s.Status, Attrs: s.Attrs}}, nil
	}
	rows := func(batches [][]eventlog.Event) map[string]string {
		t.Helper()
		pool, schema := testenv.Schema(t)
		if err := kit.MigrateReplica(ctx, pool, schema); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO `+schema+`.replica (area, id, status, attrs, position)
			VALUES ('customers', 'old', 'ACTIVE', '{"name":"Old1","city":"Z"}', 1)`); err != nil {
			t.Fatal(err)
		}
		h := kit.NewReplica(kit.ReplicaConfig{Pool: pool, Schema: schema, Source: "customers", Name: schema, Mapper: mapper}).Handler()
		for _, b := range batches {
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return consumer.Replay(ctx, tx, h, b, func(ev eventlog.Event, err error) { t.Errorf("%s failed: %v", ev.ID, err) })
			}); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]string{}
		r, err := pool.Query(ctx, `SELECT id, status, attrs::text, position FROM `+schema+`.replica ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var id, status, attrs string
			var pos int64
			if err := r.Scan(&id, &status, &attrs, &pos); err != nil {
				t.Fatal(err)
			}
			got[id] = fmt.Sprintf("%s %s %d", status, attrs, pos)
		}
		return got
	}
	var single [][]eventlog.Event
	for _, ev := range evs {
		single = append(single, []eventlog.Event{ev})
	}
	oneByOne, together := rows(single), rows([][]eventlog.Event{evs})
	if !reflect.DeepEqual(oneByOne, together) {
		t.Errorf("one batch left\n%v\none event at a time\n%v", together, oneByOne)
	}
	want := map[string]string{
		"a":   `ARCHIVED {"city": "Y", "name": "A2"} 16`,
		"b":   `ACTIVE {"name": "B2", "phone": "1"} 15`,
		"c":   ` {} 17`,
		"old": `ACTIVE {"city": "Z", "name": "Old2"} 13`,
	}
	if !reflect.DeepEqual(together, want) {
		t.Errorf("rows %v, want %v", together, want)
	}
}
