package dbcalls

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// kinds are the first keywords a statement is counted under; any other is
// "other".
var kinds = []string{"select", "insert", "update", "delete", "with", "begin", "commit", "rollback",
	"savepoint", "release", "copy", "other"}

// TracePool makes a pool built from cfg count what it sends under its
// database's name: the Tracer beside any tracer already set, and the pings
// pgxpool sends before handing out a connection that has been idle
// (ShouldPing, pgxpool's rule when none is set: idle over a second), each a
// round trip and, on the server, a transaction.
func (c *Counters) TracePool(cfg *pgxpool.Config) {
	db := cfg.ConnConfig.Database
	cfg.ConnConfig.Tracer = c.Tracer(db, cfg.ConnConfig.Tracer)
	should := cfg.ShouldPing
	if should == nil {
		should = func(_ context.Context, p pgxpool.ShouldPingParams) bool { return p.IdleDuration > time.Second }
	}
	pings, trips := c.pings.WithLabelValues(db), c.pgTrips.WithLabelValues(db)
	cfg.ShouldPing = func(ctx context.Context, p pgxpool.ShouldPingParams) bool {
		if !should(ctx, p) {
			return false
		}
		pings.Inc()
		trips.Inc()
		return true
	}
}

// Tracer counts what a pgx connection sends. It implements pgx.QueryTracer,
// pgx.BatchTracer and pgx.CopyFromTracer. Not counted: what pgx sends on
// its own outside those calls (preparing a statement the first time a
// connection runs it, pings (TracePool counts pgxpool's), connection setup).
type Tracer struct {
	statements    map[string]prometheus.Counter // by kind; read-only once built
	batches, trip prometheus.Counter
}

// Tracer returns the tracer to set as a pgx connection config's Tracer,
// counting under database. next, when not nil, is the tracer already set:
// the result calls both.
func (c *Counters) Tracer(database string, next pgx.QueryTracer) pgx.QueryTracer {
	t := &Tracer{statements: map[string]prometheus.Counter{},
		batches: c.batches.WithLabelValues(database), trip: c.pgTrips.WithLabelValues(database)}
	for _, k := range kinds {
		t.statements[k] = c.statements.WithLabelValues(database, k)
	}
	if next == nil {
		return t
	}
	return multitracer.New(next, t)
}

// TraceQueryStart counts a Query, QueryRow or Exec.
func (t *Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	t.statements[Kind(data.SQL)].Inc()
	t.trip.Inc()
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *Tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch and every statement queued in it (all are
// sent, whether or not the caller reads every result).
func (t *Tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	t.batches.Inc()
	t.trip.Inc()
	if data.Batch != nil {
		for _, q := range data.Batch.QueuedQueries {
			t.statements[Kind(q.SQL)].Inc()
		}
	}
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (t *Tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (t *Tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart counts a CopyFrom as one statement of kind "copy".
func (t *Tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	t.statements["copy"].Inc()
	t.trip.Inc()
	return ctx
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// Kind is the statement's first keyword in lower case when it is one of
// select, insert, update, delete, with, begin, commit, rollback, savepoint,
// release or copy ("begin isolation level ..." is "begin"), else "other".
// Leading white space and comments are skipped.
func Kind(sql string) string {
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return "other"
			}
			s = s[i+1:]
			continue
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return "other"
			}
			s = s[i+2:]
			continue
		}
		break
	}
	end := 0
	for end < len(s) && end <= 10 && isWordByte(s[end]) {
		end++
	}
	word := strings.ToLower(s[:end])
	for _, k := range kinds {
		if k == word {
			return k
		}
	}
	return "other"
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}
