package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

// Inline statements commit with the events or not at all, and a failing
// one refuses only the append whose events caused it.
func TestInlineProjection(t *testing.T) {
	t.Parallel()
	pool, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE TABLE "+schema+".idx (name text PRIMARY KEY, position bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema, Inline: func(evs []eventlog.Event) ([]eventlog.Statement, error) {
		var out []eventlog.Statement
		for _, e := range evs {
			var d struct{ Name string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return nil, err
			}
			// A duplicate name violates the primary key.
			out = append(out, eventlog.Statement{SQL: "INSERT INTO " + schema + ".idx VALUES ($1, $2)", Args: []any{d.Name, e.Position}})
		}
		return out, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := "unique-" + string(rune('a'+i%20))
			if i >= 20 {
				name = "dup" // 20 appends race for one name
			}
			_, errs[i] = l.Append(ctx, "s-"+string(rune('a'+i)), eventlog.AnyVersion, eventlog.Metadata{}, ev("Named", map[string]string{"Name": name}))
		}(i)
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err != nil {
			if i < 20 {
				t.Fatalf("append %d with a unique name failed: %v", i, err)
			}
			failed++
		}
	}
	if failed != 19 {
		t.Fatalf("%d of the racing duplicates failed, want 19", failed)
	}
	var n, events int64
	pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".idx").Scan(&n)
	pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".events").Scan(&events)
	if n != 21 || events != 21 {
		t.Fatalf("index holds %d rows and the log %d events, want 21 and 21", n, events)
	}
	var mismatch int64
	pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".idx i LEFT JOIN "+schema+".events e USING (position) WHERE e.position IS NULL").Scan(&mismatch)
	if mismatch != 0 {
		t.Fatalf("%d index rows point at no event", mismatch)
	}
	if errors.Is(errs[39], eventlog.ErrVersionConflict) {
		t.Fatal("an inline failure must not look like a version conflict")
	}
}
