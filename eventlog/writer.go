package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// request is one AppendMulti waiting for the writer.
type request struct {
	ctx     context.Context
	meta    Metadata
	appends []StreamAppend
	resp    chan response
}

type response struct {
	res AppendResult
	err error
}

func (r *request) events() int {
	n := 0
	for _, a := range r.appends {
		n += len(a.Events)
	}
	return n
}

// writer is the log's single writer in this process: it takes every append
// waiting at that moment and commits them in one transaction (group
// commit). Writers of other processes serialize with it on a
// transaction-scoped advisory lock, so positions become visible in order.
//
// Commits are pipelined: once a batch's inserts and COMMIT are on the wire,
// the writer prepares the next batch on another connection. That batch's
// first statements wait on the server for the advisory lock, so they read
// the head and versions after the previous commit; the round trip they cost
// overlaps the previous commit's flush.
func (l *Log) writer() {
	defer close(l.done)
	var carry []*request
	var prev chan struct{} // closed when the previous flight has answered
	last := 0              // requests in the previous batch
	linger := time.NewTimer(0)
	<-linger.C
	defer func() {
		if prev != nil {
			<-prev
		}
	}()
	for {
		var batch []*request
		if len(carry) > 0 {
			batch, carry = carry, nil
		} else {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			case <-l.stop:
				if prev != nil {
					<-prev
				}
				l.drainOnStop()
				return
			}
		}
		n := 0
		for _, r := range batch {
			n += r.events()
		}
	fill:
		for n < l.cfg.MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				n += r.events()
			default:
				break fill
			}
		}
		// The callers answered by the previous commit are likely about to
		// append again: linger briefly for them, so concurrent callers
		// share one commit instead of alternating between two half-full
		// ones. A lone caller (last <= 1) never waits.
		if last > 1 && len(batch) < last && l.cfg.Linger > 0 {
			linger.Reset(l.cfg.Linger)
		wait:
			for len(batch) < last && n < l.cfg.MaxBatch {
				select {
				case r := <-l.reqs:
					batch = append(batch, r)
					n += r.events()
				case <-linger.C:
					break wait
				}
			}
			if !linger.Stop() {
				select {
				case <-linger.C:
				default:
				}
			}
		}
		last = len(batch)
		live, deferred := screen(batch)
		carry = deferred
		if len(live) == 0 {
			continue
		}
		f, err := l.send(live)
		if err != nil {
			// Nothing of this batch is on its way: settle the previous
			// flight, then commit each request alone.
			if prev != nil {
				<-prev
				prev = nil
			}
			l.retryOneByOne(live, err)
			continue
		}
		done := make(chan struct{})
		go func(f *flight, before chan struct{}) {
			defer close(done)
			if err := f.receive(); err != nil {
				l.retryOneByOne(f.reqs, err)
				return
			}
			for i, r := range f.reqs {
				r.resp <- f.resps[i]
			}
		}(f, prev)
		prev = done
	}
}

// screen answers requests whose caller is gone, and sets aside those that
// repeat an idempotency key of an earlier request of the batch: they go to
// the next batch, where they find the key recorded.
func screen(batch []*request) (live, deferred []*request) {
	keys := map[string]bool{}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.resp <- response{err: err}
			continue
		}
		if k := r.meta.IdempotencyKey; k != "" {
			if keys[k] {
				deferred = append(deferred, r)
				continue
			}
			keys[k] = true
		}
		live = append(live, r)
	}
	return live, deferred
}

// drainOnStop commits what was queued before Close.
func (l *Log) drainOnStop() {
	for {
		var batch []*request
	fill:
		for {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		for len(batch) > 0 {
			live, deferred := screen(batch)
			if len(live) > 0 {
				resps, err := l.commitTx(live)
				if err != nil {
					l.retryOneByOne(live, err)
				} else {
					for i, r := range live {
						r.resp <- resps[i]
					}
				}
			}
			batch = deferred
		}
	}
}

// retryOneByOne commits each request of a failed batch alone, so that only
// the request that poisoned it (a duplicate event id, a failing inline
// statement) fails.
func (l *Log) retryOneByOne(reqs []*request, cause error) {
	if len(reqs) > 1 {
		l.cfg.Logger.Warn("eventlog: group commit failed, retrying one by one", "schema", l.cfg.Schema, "requests", len(reqs), "err", cause)
	}
	for _, r := range reqs {
		if len(reqs) == 1 {
			r.resp <- response{err: cause}
			return
		}
		one, err := l.commitTx([]*request{r})
		if err != nil {
			r.resp <- response{err: err}
			continue
		}
		r.resp <- one[0]
	}
}

// commitTx commits reqs in one transaction and waits for the outcome.
func (l *Log) commitTx(reqs []*request) ([]response, error) {
	f, err := l.send(reqs)
	if err != nil {
		return nil, err
	}
	if err := f.receive(); err != nil {
		return nil, err
	}
	return f.resps, nil
}

type row struct {
	ev   Event
	meta []byte
}

type dup struct {
	i           int
	first, last int64
}

// flight is a group commit whose second half is on the wire.
type flight struct {
	l      *Log
	ctx    context.Context
	cancel context.CancelFunc
	conn   *pgxpool.Conn
	br     pgx.BatchResults
	reqs   []*request
	resps  []response
	rows   int
	keys   int
	inline []Statement
	dups   []dup
}

// send runs the first half of a group commit for reqs (begin, lock, read
// head, keys and versions: one round trip), decides each request's outcome
// in memory, and sends the second half (insert, keys, inline statements,
// notify, COMMIT) without waiting for its answer. On error nothing is
// committed and nothing is in flight.
func (l *Log) send(reqs []*request) (_ *flight, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := l.cfg.Pool.Acquire(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("eventlog %s: acquire: %w", l.cfg.Schema, err)
	}
	f := &flight{l: l, ctx: ctx, cancel: cancel, conn: conn, reqs: reqs}
	defer func() {
		if err != nil {
			f.abort()
		}
	}()

	var keys, streams []string
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.meta.IdempotencyKey != "" {
			keys = append(keys, r.meta.IdempotencyKey)
		}
		for _, a := range r.appends {
			if !seen[a.StreamID] {
				seen[a.StreamID] = true
				streams = append(streams, a.StreamID)
			}
		}
	}

	// The transaction is opened and closed by statements inside two
	// pipelined batches: begin, lock, head, recorded keys, stream versions.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT pg_advisory_xact_lock($1)", l.lockKey)
	b.Queue(l.q.head)
	b.Queue(l.q.findKeys, keys)
	b.Queue(l.q.streamVersions, streams)
	br := conn.SendBatch(ctx, b)
	var head int64
	recorded := map[string][2]int64{}
	versions := map[string]int64{}
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if err := br.QueryRow().Scan(&head); err != nil {
			return fmt.Errorf("head: %w", err)
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("idempotency keys: %w", err)
		}
		var k string
		var first, last int64
		if _, err := pgx.ForEachRow(rows, []any{&k, &first, &last}, func() error {
			recorded[k] = [2]int64{first, last}
			return nil
		}); err != nil {
			return fmt.Errorf("idempotency keys: %w", err)
		}
		rows, err = br.Query()
		if err != nil {
			return fmt.Errorf("stream versions: %w", err)
		}
		var s string
		var v int64
		if _, err := pgx.ForEachRow(rows, []any{&s, &v}, func() error {
			versions[s] = v
			return nil
		}); err != nil {
			return fmt.Errorf("stream versions: %w", err)
		}
		return br.Close()
	}()
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("eventlog %s: %w", l.cfg.Schema, err)
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	f.resps = make([]response, len(reqs))
	var rows []row
	var idemKeys []string
	var idemFirst, idemLast []int64
	for i, r := range reqs {
		if p, ok := recorded[r.meta.IdempotencyKey]; ok && r.meta.IdempotencyKey != "" {
			f.dups = append(f.dups, dup{i, p[0], p[1]})
			continue
		}
		if err := checkVersions(r.appends, versions); err != nil {
			f.resps[i] = response{err: err}
			continue
		}
		meta, err := json.Marshal(r.meta)
		if err != nil {
			f.resps[i] = response{err: fmt.Errorf("eventlog: metadata: %w", err)}
			continue
		}
		first := head + 1
		var evs []Event
		for _, a := range r.appends {
			for _, ne := range a.Events {
				id := ne.ID
				if id == "" {
					id = uuid.Must(uuid.NewV7()).String()
				}
				head++
				versions[a.StreamID]++
				data := ne.Data
				if len(data) == 0 {
					data = json.RawMessage("{}")
				}
				ev := Event{ID: id, StreamID: a.StreamID, Version: versions[a.StreamID],
					Position: head, Type: ne.Type, Data: data, Metadata: r.meta, RecordedAt: now}
				evs = append(evs, ev)
				rows = append(rows, row{ev: ev, meta: meta})
			}
		}
		f.resps[i] = response{res: AppendResult{Events: evs}}
		if k := r.meta.IdempotencyKey; k != "" {
			idemKeys = append(idemKeys, k)
			idemFirst = append(idemFirst, first)
			idemLast = append(idemLast, head)
		}
	}
	f.rows, f.keys = len(rows), len(idemKeys)

	b = &pgx.Batch{}
	if len(rows) > 0 {
		b.Queue(l.q.insert, insertArgs(rows)...)
		if len(idemKeys) > 0 {
			b.Queue(l.q.insertKeys, idemKeys, idemFirst, idemLast, now)
		}
		b.Queue("SELECT pg_notify($1, $2)", NotifyChannel(l.cfg.Schema), strconv.FormatInt(head, 10))
		if l.cfg.Inline != nil {
			evs := make([]Event, len(rows))
			for i, r := range rows {
				evs[i] = r.ev
			}
			if f.inline, err = l.cfg.Inline(evs); err != nil {
				return nil, fmt.Errorf("eventlog %s: inline projection: %w", l.cfg.Schema, err)
			}
			for _, st := range f.inline {
				b.Queue(st.SQL, st.Args...)
			}
		}
	}
	for _, d := range f.dups {
		b.Queue(l.q.readRange, d.first, d.last)
	}
	b.Queue("COMMIT")
	f.br = conn.SendBatch(ctx, b)
	return f, nil
}

// receive reads the answers of the second half. On error nothing was
// committed (or, when the connection broke during COMMIT, the outcome is
// unknown: a retry with the same idempotency key is safe).
func (f *flight) receive() (err error) {
	defer func() {
		if err != nil {
			f.abort()
			return
		}
		f.conn.Release()
		f.cancel()
	}()
	br := f.br
	err = func() error {
		if f.rows > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("insert: %w", translate(err))
			}
			if f.keys > 0 {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("insert keys: %w", err)
				}
			}
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		}
		for _, st := range f.inline {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("inline projection %q: %w", st.SQL, err)
			}
		}
		for _, d := range f.dups {
			rs, err := br.Query()
			if err != nil {
				return fmt.Errorf("read duplicate: %w", err)
			}
			evs, err := scanEvents(rs)
			if err != nil {
				return fmt.Errorf("read duplicate: %w", err)
			}
			f.resps[d.i] = response{res: AppendResult{Events: evs, Duplicate: true}}
		}
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		// COMMIT of a failed transaction answers ROLLBACK, not an error.
		if tag.String() != "COMMIT" {
			return fmt.Errorf("commit answered %q", tag.String())
		}
		return br.Close()
	}()
	if err != nil {
		br.Close()
		return fmt.Errorf("eventlog %s: %w", f.l.cfg.Schema, err)
	}
	f.l.commits.Add(1)
	f.l.committed.Add(int64(f.rows))
	return nil
}

// abort rolls back whatever is open on the flight's connection and returns
// it; a connection that cannot even roll back is discarded.
func (f *flight) abort() {
	if _, err := f.conn.Exec(f.ctx, "ROLLBACK"); err != nil {
		f.conn.Conn().Close(f.ctx)
	}
	f.conn.Release()
	f.cancel()
}

func checkVersions(appends []StreamAppend, versions map[string]int64) error {
	for _, a := range appends {
		if a.ExpectedVersion == AnyVersion {
			continue
		}
		if cur := versions[a.StreamID]; cur != a.ExpectedVersion {
			return &VersionConflictError{StreamID: a.StreamID, Expected: a.ExpectedVersion, Actual: cur}
		}
	}
	return nil
}

func insertArgs(rows []row) []any {
	n := len(rows)
	pos, ver := make([]int64, n), make([]int64, n)
	id, stream, typ, data, meta := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at := make([]time.Time, n)
	for i, r := range rows {
		pos[i], ver[i] = r.ev.Position, r.ev.Version
		id[i], stream[i], typ[i] = r.ev.ID, r.ev.StreamID, r.ev.Type
		data[i], meta[i] = string(r.ev.Data), string(r.meta)
		at[i] = r.ev.RecordedAt
	}
	return []any{pos, id, stream, ver, typ, data, meta, at}
}

// translate turns constraint violations that the lock should make
// impossible into clear errors.
func translate(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "events_stream_version":
			return fmt.Errorf("%w (concurrent writer without the lock)", ErrVersionConflict)
		case "events_event_id_key":
			return fmt.Errorf("eventlog: duplicate event id: %w", err)
		}
	}
	return err
}
