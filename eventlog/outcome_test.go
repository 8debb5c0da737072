package eventlog_test

import (
	"context"
	"errors"
	"testing"

	"crm/eventlog"
	"crm/eventlog/testenv"
)

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// An append whose connection is lost while its transaction, COMMIT
// included, is on the wire fails with ErrOutcomeUnknown, and the writer
// never sends it again (an append without idempotency key would be
// recorded twice). Errors the server answered before COMMIT stay definite.
func TestAppendOutcomeUnknown(t *testing.T) {
	t.Parallel()
	admin, schema := testenv.Schema(t)
	ctx := context.Background()
	if err := eventlog.Migrate(ctx, admin, schema); err != nil {
		t.Fatal(err)
	}
	// A deferred trigger that sleeps during COMMIT, for "SlowCommit" events.
	for _, sql := range []string{
		`CREATE FUNCTION ` + schema + `.slow_commit() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$`,
		`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON ` + schema + `.events
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.type = 'SlowCommit')
			EXECUTE FUNCTION ` + schema + `.slow_commit()`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	s := testenv.NewCutPool(t, admin)
	// An inline statement that sleeps just before COMMIT, for "SlowInline"
	// events, and one that fails, for "Bad" events.
	l, err := eventlog.Open(ctx, eventlog.Config{Pool: s.Pool, Schema: schema,
		Inline: func(evs []eventlog.Event) ([]eventlog.Statement, error) {
			var out []eventlog.Statement
			for _, e := range evs {
				switch e.Type {
				case "SlowInline":
					out = append(out, eventlog.Statement{SQL: "SELECT pg_sleep(1)"})
				case "Bad":
					out = append(out, eventlog.Statement{SQL: "SELECT 1/0"})
				}
			}
			return out, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	count := func(stream, typ string) int {
		t.Helper()
		evs, err := l.ReadStream(ctx, stream, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Type == typ {
				n++
			}
		}
		return n
	}
	appendAsync := func(stream string, expected int64, typ string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := l.Append(ctx, stream, expected, eventlog.Metadata{}, ev(typ, nil))
			done <- err
		}()
		return done
	}

	// The writer now knows the log: the next append to s-1 is sent in one
	// optimistic pipeline.
	if _, err := l.Append(ctx, "s-1", eventlog.NoStream, eventlog.Metadata{}, ev("Opened", nil)); err != nil {
		t.Fatal(err)
	}

	t.Run("connection lost after COMMIT was sent", func(t *testing.T) {
		done := appendAsync("s-1", eventlog.AnyVersion, "SlowInline")
		pid, err := s.Sleeping()
		must(t, err)
		must(t, s.Cut(pid)) // the server still has the rest of the pipeline, COMMIT included
		err = <-done
		must(t, s.IdleThenClose(pid))
		must(t, s.Gone(pid))
		if !errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Errorf("append answered %v, want ErrOutcomeUnknown", err)
		}
		// The server went on and committed: once, never twice.
		if n := count("s-1", "SlowInline"); n != 1 {
			t.Errorf("the append was recorded %d times, want once", n)
		}
	})

	t.Run("session ended during COMMIT", func(t *testing.T) {
		done := appendAsync("s-2", eventlog.NoStream, "SlowCommit")
		pid, err := s.Sleeping()
		must(t, err)
		must(t, s.Terminate(pid))
		err = <-done
		if !errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("append answered %v, want ErrOutcomeUnknown", err)
		}
		must(t, s.Gone(pid))
		if n := count("s-2", "SlowCommit"); n > 1 {
			t.Fatalf("the append was recorded %d times", n)
		}
	})

	t.Run("session ended before COMMIT", func(t *testing.T) {
		done := appendAsync("s-3", eventlog.NoStream, "SlowInline")
		pid, err := s.Sleeping()
		must(t, err)
		must(t, s.Terminate(pid))
		err = <-done
		if err == nil || errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("append answered %v, want a definite failure", err)
		}
		must(t, s.Gone(pid))
		if n := count("s-3", "SlowInline"); n != 0 {
			t.Fatalf("a refused append was recorded %d times", n)
		}
	})

	t.Run("definite failures", func(t *testing.T) {
		_, err := l.Append(ctx, "s-1", eventlog.NoStream, eventlog.Metadata{}, ev("Again", nil))
		if !errors.Is(err, eventlog.ErrVersionConflict) || errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("stale append answered %v, want a version conflict only", err)
		}
		_, err = l.Append(ctx, "s-4", eventlog.NoStream, eventlog.Metadata{}, ev("Bad", nil))
		if err == nil || errors.Is(err, eventlog.ErrOutcomeUnknown) {
			t.Fatalf("failing inline statement answered %v, want a definite failure", err)
		}
	})

	// The writer goes on.
	if _, err := l.Append(ctx, "s-5", eventlog.NoStream, eventlog.Metadata{}, ev("Opened", nil)); err != nil {
		t.Fatal(err)
	}
}
