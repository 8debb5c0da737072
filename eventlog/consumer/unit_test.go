package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/errcode"
)

// These tests need neither PostgreSQL nor Redis.

func TestConfigDefaultsAndValidate(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.setDefaults()
	if cfg.Partitions != 8 || cfg.LeaseTTL != 10*time.Second || cfg.BatchSize != 100 || cfg.Block != 5*time.Second ||
		cfg.MaxAttempts != 5 || cfg.Backoff != 100*time.Millisecond || cfg.MaxBackoff != 5*time.Second ||
		cfg.ConsumerID == "" || cfg.Logger == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	err := cfg.Validate()
	for _, want := range []string{"Name", "Area", "Namespace", "Redis", "Pool", "Schema", "Source", "Handler"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a complaint about %s", err, want)
		}
	}
	rdb := redis.NewClient(&redis.Options{})
	defer rdb.Close()
	ok := Config{
		Name: "projector", Area: "customers", Namespace: "crm", Redis: rdb,
		Pool: &pgxpool.Pool{}, Schema: "read", Source: sliceSource(nil),
		Handler: HandlerFunc(func(context.Context, *Batch, eventlog.Event) (any, error) { return nil, nil }),
	}
	if _, err := New(ok); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
	bad := ok
	bad.Name, bad.Schema, bad.Partitions = "a:b", "Bad-Schema", -1
	if _, err := New(bad); err == nil || !strings.Contains(err.Error(), "Name") ||
		!strings.Contains(err.Error(), "Schema") || !strings.Contains(err.Error(), "Partitions") {
		t.Errorf("New(bad) = %v", err)
	}
}

type sliceSource []eventlog.Event

func (s sliceSource) ReadLog(_ context.Context, after int64, limit int) ([]eventlog.Event, error) {
	var out []eventlog.Event
	for _, ev := range s {
		if ev.Position > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func TestFairShareAndPreference(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ parts, n, want int }{{8, 1, 8}, {8, 2, 4}, {8, 3, 3}, {8, 5, 2}, {8, 9, 1}, {1, 3, 1}} {
		if got := fairShare(tc.parts, tc.n); got != tc.want {
			t.Errorf("fairShare(%d, %d) = %d, want %d", tc.parts, tc.n, got, tc.want)
		}
		if fairShare(tc.parts, tc.n)*tc.n < tc.parts {
			t.Errorf("fairShare(%d, %d) leaves partitions unowned", tc.parts, tc.n)
		}
	}
	m := &manager{c: &Consumer{cfg: Config{Partitions: 8}}, start: 6}
	for p, want := range map[int]int{6: 0, 7: 1, 0: 2, 5: 7} {
		if got := m.rank(p); got != want {
			t.Errorf("rank(%d) = %d, want %d", p, got, want)
		}
	}
}

func TestEntryPosition(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]int64{"42-0": 42, eventlog.EntryID(7): 7, "42-1": -1, "0-0": -1, "x-0": -1, "42": -1} {
		got, ok := entryPosition(id)
		if (want < 0 && ok) || (want >= 0 && (!ok || got != want)) {
			t.Errorf("entryPosition(%q) = %d, %v", id, got, ok)
		}
	}
}

func TestTransientErrors(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]bool{
		context.Canceled:                                    true,
		&pgconn.PgError{Code: "40001"}:                      true, // serialization failure
		&pgconn.PgError{Code: "40P01"}:                      true, // deadlock
		&pgconn.PgError{Code: "08006"}:                      true,
		&pgconn.PgError{Code: "57P01"}:                      true, // admin shutdown
		&pgconn.PgError{Code: "57014"}:                      false,
		&pgconn.PgError{Code: "23505"}:                      false,
		fmt.Errorf("x: %w", &pgconn.PgError{Code: "53300"}): true,
		errors.New("handler says no"):                       false,
		fmt.Errorf("react: %w", errcode.Wrap(errcode.Unavailable, errors.New("down"), "store down")): true,
		errcode.Invalid("customerId", "bad"): false,
	} {
		if got := transient(err); got != want {
			t.Errorf("transient(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	t.Parallel()
	c := &Consumer{cfg: Config{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 10: time.Second} {
		got := c.backoff(n)
		if got > want || got < want*8/10 {
			t.Errorf("backoff(%d) = %v, want %v minus at most 20%%", n, got, want)
		}
	}
}

// Truncating a batch to a mark drops the statements and the Rows rows
// queued since, whatever statements they went to, and keeps the rest.
func TestBatchTruncateDropsRowsSinceMark(t *testing.T) {
	t.Parallel()
	b := &Batch{}
	b.Rows("a", 1, "x")
	b.Exec("s1")
	m := b.mark()
	b.ev = 1
	b.Rows("b", 2)
	b.Rows("a", 3, "y")
	b.Exec("s2")
	b.truncate(m)
	if len(b.stmts) != 1 || len(b.rows["a"].evs) != 1 || len(b.rows["a"].cols[1]) != 1 || len(b.rows["b"].evs) != 0 {
		t.Fatalf("after truncate: %d statements, rows a %v, rows b %v", len(b.stmts), b.rows["a"].cols, b.rows["b"].cols)
	}
	b.Rows("a", 4, "z")
	if got := b.rows["a"].cols[0]; len(got) != 2 || got[1] != 4 {
		t.Fatalf("rows after a new Rows call: %v", got)
	}
}
