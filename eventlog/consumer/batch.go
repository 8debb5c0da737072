package consumer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/jackc/pgx/v5"

	"crm/eventlog"
)

// Batch collects the statements that apply a batch of events. A Handler
// queues statements on it instead of running them; the consumer then sends
// the whole batch (checkpoint advance, advisory locks, every handler
// statement) to PostgreSQL in one round trip, and it commits or fails as a
// whole. Statements run in the order queued and see the effects of the
// statements before them.
type Batch struct {
	stmts  []stmt
	locks  map[string]struct{}
	ev     int // index of the event whose statements are being queued
	rows   map[string]*rowsStmt
	order  []string    // rows statements in first-use order
	rowLog []*rowsStmt // the statement of every row added, in order
	ups    []upsertOp  // Upsert and Refresh calls, in order, folded by Send
	memo   map[any]memoized
}

type memoized struct {
	v   any
	err error
}

// Memo returns what fn returned for key earlier in this batch, or calls
// fn and keeps its result for the rest of the batch: the handlers of a
// consumer's sinks apply the same events in one batch and can share work
// such as decoding an event's payload. Keys are compared with ==; the
// values must not be changed by those who share them.
func (b *Batch) Memo(key any, fn func() (any, error)) (any, error) {
	if m, ok := b.memo[key]; ok {
		return m.v, m.err
	}
	v, err := fn()
	if b.memo == nil {
		b.memo = map[any]memoized{}
	}
	b.memo[key] = memoized{v: v, err: err}
	return v, err
}

// rowsStmt collects the rows of one Rows statement: a column per
// parameter, and the event each row came from.
type rowsStmt struct {
	cols [][]any
	evs  []int
}

type stmt struct {
	sql  string
	args []any
	rows func(pgx.Rows) error // nil: Exec
	ev   int                  // event index, -1 for the consumer's own
}

// Exec queues a statement whose result is not needed.
func (b *Batch) Exec(sql string, args ...any) {
	b.stmts = append(b.stmts, stmt{sql: sql, args: args, ev: b.ev})
}

// QueryRow queues a statement returning at most one row; scan receives it
// once the batch has run (it is not called when there is no row). scan
// must not fail on a well-formed row: the batch commits regardless, and its
// error is only reported (StatementError with Committed set).
func (b *Batch) QueryRow(scan func(pgx.Row) error, sql string, args ...any) {
	b.Query(func(rows pgx.Rows) error {
		if rows.Next() {
			return scan(rows)
		}
		return nil
	}, sql, args...)
}

// Query queues a statement returning rows; collect iterates them once the
// batch has run (it must not close them). Like QueryRow's scan, collect
// must not fail on well-formed rows.
func (b *Batch) Query(collect func(pgx.Rows) error, sql string, args ...any) {
	b.stmts = append(b.stmts, stmt{sql: sql, args: args, rows: collect, ev: b.ev})
}

// Lock asks for a transaction-scoped advisory lock on key (e.g. "read.customers:<id>")
// for the whole batch. The consumer takes all of a batch's locks in one
// statement, in key order, before any handler statement, so that batches
// of different consumers writing the same rows never deadlock.
func (b *Batch) Lock(keys ...string) {
	if b.locks == nil {
		b.locks = map[string]struct{}{}
	}
	for _, k := range keys {
		b.locks[k] = struct{}{}
	}
}

// Rows adds one row to a statement that takes its rows as arrays, one per
// column (INSERT ... SELECT * FROM unnest($1::text[], $2::bigint[], ...)):
// every call with the same sql appends one element to each array, and the
// statement runs once per batch, after every other statement of the batch.
// Use it for rows no other statement of the batch reads, such as an
// append-only table; values of one column must have one Go type.
func (b *Batch) Rows(sql string, vals ...any) {
	if b.rows == nil {
		b.rows = map[string]*rowsStmt{}
	}
	r := b.rows[sql]
	if r == nil {
		r = &rowsStmt{cols: make([][]any, len(vals))}
		b.rows[sql] = r
		b.order = append(b.order, sql)
	}
	for i, v := range vals {
		r.cols[i] = append(r.cols[i], v)
	}
	r.evs = append(r.evs, b.ev)
	b.rowLog = append(b.rowLog, r)
}

// Len is the number of statements queued.
func (b *Batch) Len() int { return len(b.stmts) }

// mark and truncate drop what one event queued when its handler fails.
// A mark is how many statements, Rows rows and Upsert or Refresh calls the
// batch held.
func (b *Batch) mark() mark { return mark{stmts: len(b.stmts), rows: len(b.rowLog), ups: len(b.ups)} }

// truncate drops what was queued since m: statements, and the rows added
// to Rows statements since (each the last of its statement).
func (b *Batch) truncate(m mark) {
	b.stmts = b.stmts[:m.stmts]
	for _, r := range slices.Backward(b.rowLog[m.rows:]) {
		n := len(r.evs) - 1
		for i := range r.cols {
			r.cols[i] = r.cols[i][:n]
		}
		r.evs = r.evs[:n]
	}
	b.rowLog = b.rowLog[:m.rows]
	b.ups = b.ups[:m.ups]
}

type mark struct{ stmts, rows, ups int }

// lockSQL takes the batch's advisory locks in key order.
const lockSQL = `SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM (SELECT unnest($1::text[]) AS k ORDER BY 1) s`

// StatementError is a failure of one statement of a batch.
type StatementError struct {
	// Event is the index of the event that queued the statement, -1 for a
	// statement of the consumer's own (checkpoint, locks) or when the
	// failure came at commit.
	Event int
	Err   error
	// Committed: the batch committed and only a scan callback failed.
	Committed bool
}

func (e *StatementError) Error() string { return e.Err.Error() }
func (e *StatementError) Unwrap() error { return e.Err }

// Send runs the batch on q (a pool, connection or transaction) after the
// statements in prefix, reading every result in order. Without an explicit
// transaction the whole batch is one implicit transaction. It returns a
// *StatementError naming the event whose statement failed.
func (b *Batch) Send(ctx context.Context, q interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, prefix ...stmt) error {
	all := slices.Clone(prefix)
	if len(b.locks) > 0 {
		keys := make([]string, 0, len(b.locks))
		for k := range b.locks {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		all = append(all, stmt{sql: lockSQL, args: []any{keys}, ev: -1})
	}
	all = append(all, b.stmts...)
	folded, err := b.fold()
	if err != nil {
		return &StatementError{Event: -1, Err: err}
	}
	all = append(all, folded...)
	for _, sql := range b.order {
		r := b.rows[sql]
		if len(r.evs) == 0 {
			continue
		}
		args := make([]any, len(r.cols))
		for i, col := range r.cols {
			args[i] = typedSlice(col)
		}
		ev := r.evs[0]
		for _, e := range r.evs {
			if e != ev {
				ev = -1 // rows of several events: no one to blame
				break
			}
		}
		all = append(all, stmt{sql: sql, args: args, ev: ev})
	}
	if len(all) == 0 {
		return nil
	}
	pb := &pgx.Batch{}
	for _, s := range all {
		pb.Queue(s.sql, s.args...)
	}
	br := q.SendBatch(ctx, pb)
	var scanErr *StatementError
	for _, s := range all {
		var err error
		if s.rows != nil {
			var rows pgx.Rows
			if rows, err = br.Query(); err == nil {
				if serr := s.rows(rows); serr != nil && scanErr == nil && rows.Err() == nil {
					scanErr = &StatementError{Event: s.ev, Err: serr, Committed: true}
				}
				rows.Close()
				err = rows.Err()
			}
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return &StatementError{Event: s.ev, Err: err}
		}
	}
	if err := br.Close(); err != nil {
		return &StatementError{Event: -1, Err: fmt.Errorf("commit: %w", err)}
	}
	if scanErr != nil {
		return scanErr
	}
	return nil
}

// FailedEvent returns the index of the event a Send or ApplyEvents error
// names, or -1.
func FailedEvent(err error) int {
	var se *StatementError
	if errors.As(err, &se) {
		return se.Event
	}
	return -1
}

// ApplyEvents applies evs with h outside a consumer, in one batch sent on
// q (a transaction, for the replays of rebuild and verify), and returns
// the handler's results. A failure is a *StatementError naming the event
// (index into evs) whose statement failed, or the Apply error of the first
// event that could not be queued.
func ApplyEvents(ctx context.Context, q interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, h Handler, evs []eventlog.Event) ([]any, error) {
	b := &Batch{}
	results := make([]any, len(evs))
	for i, ev := range evs {
		b.ev = i
		res, err := h.Apply(ctx, b, ev)
		if err != nil {
			return nil, &StatementError{Event: i, Err: err}
		}
		results[i] = res
	}
	if err := b.Send(ctx, q); err != nil {
		return nil, err
	}
	return results, nil
}

// typedSlice turns a column of values of one Go type into a slice of that
// type, which pgx encodes as the parameter's array.
func typedSlice(col []any) any {
	t := reflect.TypeOf(col[0])
	if t == nil {
		return col
	}
	out := reflect.MakeSlice(reflect.SliceOf(t), len(col), len(col))
	for i, v := range col {
		if v != nil {
			out.Index(i).Set(reflect.ValueOf(v))
		}
	}
	return out.Interface()
}
