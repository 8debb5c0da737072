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
func (l *Log) writer() {
	defer close(l.done)
	var carry []*request
	for {
		var batch []*request
		if len(carry) > 0 {
			batch, carry = carry, nil
		} else {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			case <-l.stop:
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
		carry = l.commit(batch)
	}
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
			batch = l.commit(batch)
		}
	}
}

// commit writes a batch and answers its requests. Requests that repeat an
// idempotency key of an earlier request of the same batch are returned, to
// be committed in the next batch, where they find the key recorded.
func (l *Log) commit(batch []*request) (deferred []*request) {
	keys := map[string]bool{}
	live := batch[:0:0]
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
	if len(live) == 0 {
		return deferred
	}
	resps, err := l.commitTx(live)
	if err != nil && len(live) > 1 {
		// One request may have poisoned the batch (a duplicate event id,
		// say): commit each alone so only that one fails.
		l.cfg.Logger.Warn("eventlog: group commit failed, retrying one by one", "schema", l.cfg.Schema, "requests", len(live), "err", err)
		for _, r := range live {
			one, err := l.commitTx([]*request{r})
			if err != nil {
				r.resp <- response{err: err}
				continue
			}
			r.resp <- one[0]
		}
		return deferred
	}
	if err != nil {
		live[0].resp <- response{err: err}
		return deferred
	}
	for i, r := range live {
		r.resp <- resps[i]
	}
	return deferred
}

type row struct {
	ev   Event
	meta []byte
}

// commitTx runs one group-commit transaction for reqs and returns each
// request's response (business outcomes such as conflicts included), or an
// error when the transaction itself failed and nothing was committed.
func (l *Log) commitTx(reqs []*request) ([]response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The transaction is opened and closed by statements inside the two
	// pipelined batches below, so a group commit costs two round trips.
	conn, err := l.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("eventlog %s: acquire: %w", l.cfg.Schema, err)
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			// Leave no transaction open on a pooled connection; a
			// connection that cannot even roll back is discarded.
			if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
				conn.Conn().Close(ctx)
			}
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

	// One round trip: begin, lock, head, recorded keys, stream versions.
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
	resps := make([]response, len(reqs))
	var rows []row
	type dup struct {
		i           int
		first, last int64
	}
	var dups []dup
	var idemKeys []string
	var idemFirst, idemLast []int64
	for i, r := range reqs {
		if p, ok := recorded[r.meta.IdempotencyKey]; ok && r.meta.IdempotencyKey != "" {
			dups = append(dups, dup{i, p[0], p[1]})
			continue
		}
		if err := checkVersions(r.appends, versions); err != nil {
			resps[i] = response{err: err}
			continue
		}
		meta, err := json.Marshal(r.meta)
		if err != nil {
			resps[i] = response{err: fmt.Errorf("eventlog: metadata: %w", err)}
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
				evs = append(evs, Event{ID: id, StreamID: a.StreamID, Version: versions[a.StreamID],
					Position: head, Type: ne.Type, Data: data, Metadata: r.meta, RecordedAt: now})
			}
		}
		for _, e := range evs {
			rows = append(rows, row{ev: e, meta: meta})
		}
		resps[i] = response{res: AppendResult{Events: evs}}
		if k := r.meta.IdempotencyKey; k != "" {
			idemKeys = append(idemKeys, k)
			idemFirst = append(idemFirst, first)
			idemLast = append(idemLast, head)
		}
	}

	b = &pgx.Batch{}
	if len(rows) > 0 {
		b.Queue(l.q.insert, insertArgs(rows)...)
		if len(idemKeys) > 0 {
			b.Queue(l.q.insertKeys, idemKeys, idemFirst, idemLast, now)
		}
		b.Queue("SELECT pg_notify($1, $2)", NotifyChannel(l.cfg.Schema), strconv.FormatInt(head, 10))
	}
	var inline []Statement
	if l.cfg.Inline != nil && len(rows) > 0 {
		evs := make([]Event, len(rows))
		for i, r := range rows {
			evs[i] = r.ev
		}
		if inline, err = l.cfg.Inline(evs); err != nil {
			return nil, fmt.Errorf("eventlog %s: inline projection: %w", l.cfg.Schema, err)
		}
		for _, st := range inline {
			b.Queue(st.SQL, st.Args...)
		}
	}
	for _, d := range dups {
		b.Queue(l.q.readRange, d.first, d.last)
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	err = func() error {
		if len(rows) > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("insert: %w", translate(err))
			}
			if len(idemKeys) > 0 {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("insert keys: %w", err)
				}
			}
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		}
		for _, st := range inline {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("inline projection %q: %w", st.SQL, err)
			}
		}
		for _, d := range dups {
			rs, err := br.Query()
			if err != nil {
				return fmt.Errorf("read duplicate: %w", err)
			}
			evs, err := scanEvents(rs)
			if err != nil {
				return fmt.Errorf("read duplicate: %w", err)
			}
			resps[d.i] = response{res: AppendResult{Events: evs, Duplicate: true}}
		}
		// COMMIT of a failed transaction answers ROLLBACK, not an error.
		if tag, err := br.Exec(); err != nil || tag.String() != "COMMIT" {
			return fmt.Errorf("commit: %q: %w", tag.String(), err)
		}
		return br.Close()
	}()
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("eventlog %s: %w", l.cfg.Schema, err)
	}
	committed = true
	l.commits.Add(1)
	l.committed.Add(int64(len(rows)))
	return resps, nil
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
