package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrOutcomeUnknown is matched (errors.Is) by an append error that leaves
// the append's outcome unknown: the connection was lost (or timed out, or
// the session ended during COMMIT) after the transaction, COMMIT included,
// was sent, so it may have committed. The writer never sends such an append
// again; the caller resolves it by the append's idempotency key (Lookup), or
// retries with the same key, which records nothing twice. Errors the server
// answered for a statement before COMMIT, version conflicts and everything
// refused before sending are not this error: nothing was recorded.
var ErrOutcomeUnknown = errors.New("eventlog: the outcome of the append is unknown")

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

// maxInFlight bounds the optimistic group commits being answered while the
// next one is sent (so at most maxInFlight+1 are on the wire). More than one
// measured slower here: several small commits queue for the lock where one
// larger commit would have served them.
const maxInFlight = 1

// WriterConns is the most connections of the log's pool its writer holds at
// once: the commit being sent and the ones being answered. Whatever else
// uses the pool (reads, other writers) needs connections beyond these.
const WriterConns = maxInFlight + 1

// writer is the log's single writer in this process: it takes every append
// waiting at that moment and commits them in one transaction (group
// commit). Writers of other processes serialize with it on a
// transaction-scoped advisory lock, so positions become visible in order.
//
// A commit normally costs one round trip: the writer remembers the log's
// head and the versions of the streams it wrote, decides the batch in
// memory and sends begin, lock, a check that the head is still the one it
// expects, the inserts and COMMIT in one pipeline ("optimistic" commit).
// Streams it does not know are read first, unless the append expects them
// to be new; the (stream, version) and idempotency-key unique indexes refuse
// a wrong guess. Several such commits
// may be on the wire at once, each waiting on the server for the lock.
// Whenever one fails (another process wrote, a guess was wrong, a key was
// recorded before), everything in flight settles, the memory is dropped and
// the failed requests are committed "exactly": reading head, keys and
// versions under the lock first (two round trips). A commit whose outcome
// is unknown (ErrOutcomeUnknown) is never sent again: its callers get that
// error.
func (l *Log) writer() {
	defer close(l.done)
	w := &writerState{l: l, versions: map[string]int64{}, slots: make(chan struct{}, maxInFlight), retried: make(chan struct{}, 1)}
	defer w.settle()
	var carry []*request
	last := 0 // requests in the previous batch
	linger := time.NewTimer(0)
	<-linger.C
	for {
		var batch []*request
		if retry := w.takeRetries(); len(retry) > 0 {
			// Failed optimistic commits: settle and forget, then commit
			// their requests exactly (with anything carried over).
			w.settle()
			batch, carry = append(retry, carry...), nil
		} else if len(carry) > 0 {
			batch, carry = carry, nil
		} else {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			case <-w.retried:
				continue
			case <-l.stop:
				w.settle()
				l.drainOnStop(w)
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
		// share one commit instead of spreading over several small ones.
		// A lone caller (last <= 1) never waits.
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
		if len(live) > 0 {
			w.commit(live)
		}
	}
}

// writerState is what the writer goroutine remembers between commits.
type writerState struct {
	l *Log
	// known: head and versions are exact as of the last commit sent
	// (assuming every commit in flight succeeds).
	known    bool
	head     int64
	versions map[string]int64

	slots   chan struct{} // one per commit in flight
	flights sync.WaitGroup

	mu      sync.Mutex
	failed  bool       // a commit in flight failed: memory is stale
	retries []*request // its requests, to commit exactly
	retried chan struct{}
}

const maxRemembered = 100000

// commit sends live optimistically when the writer's memory allows it,
// else commits it exactly.
func (w *writerState) commit(live []*request) {
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	if failed || !w.known || !w.guessable(live) {
		w.settle()
		w.exact(live)
		return
	}
	f, err := w.l.send(live, &w.head, w.versions)
	if err != nil {
		// Nothing of it was sent, but the memory may count part of it.
		w.settle()
		w.known = false
		clear(w.versions)
		w.exact(live)
		return
	}
	w.slots <- struct{}{}
	w.flights.Add(1)
	go func() {
		defer func() { <-w.slots; w.flights.Done() }()
		if err := f.receive(); err != nil {
			w.mu.Lock()
			w.failed = true
			if errors.Is(err, ErrOutcomeUnknown) {
				// It may be committed: sending it again could record an
				// append without idempotency key twice.
				w.mu.Unlock()
				f.answerUnknown(err)
				return
			}
			w.retries = append(w.retries, f.reqs...)
			w.mu.Unlock()
			select {
			case w.retried <- struct{}{}:
			default:
			}
			return
		}
		f.answer()
	}()
}

// takeRetries returns the requests of failed commits.
func (w *writerState) takeRetries() []*request {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.retries
	w.retries = nil
	return r
}

// guessable: every request writes streams the writer remembers, or streams
// it expects to be new (NoStream: a new entity), a guess the unique index
// checks. Any other stream needs its version read.
func (w *writerState) guessable(reqs []*request) bool {
	for _, r := range reqs {
		for _, a := range r.appends {
			if _, ok := w.versions[a.StreamID]; !ok && a.ExpectedVersion != NoStream {
				return false
			}
		}
	}
	return true
}

// settle waits until no commit is in flight; if one failed, the memory is
// dropped.
func (w *writerState) settle() {
	w.flights.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		w.failed, w.known = false, false
		clear(w.versions)
	}
}

// exact commits reqs reading the log's state under the lock first, and
// refreshes the writer's memory from it. Nothing may be in flight.
func (w *writerState) exact(reqs []*request) {
	f, err := w.l.send(reqs, nil, nil)
	if err == nil {
		err = f.receive()
	}
	if err != nil {
		w.known = false
		clear(w.versions)
		if errors.Is(err, ErrOutcomeUnknown) {
			f.answerUnknown(err)
			return
		}
		w.l.retryOneByOne(reqs, err)
		return
	}
	if !w.known || f.readHead != w.head || len(w.versions) > maxRemembered {
		clear(w.versions) // another process wrote: what we remember may be stale
	}
	w.known, w.head = true, f.head
	for s, v := range f.versions {
		w.versions[s] = v
	}
	f.answer()
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
func (l *Log) drainOnStop(w *writerState) {
	for {
		batch := w.takeRetries()
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
				w.exact(live)
			}
			batch = deferred
		}
	}
}

// retryOneByOne commits each request of a failed batch alone, so that only
// the request that poisoned it (a duplicate event id, a failing inline
// statement) fails.
func (l *Log) retryOneByOne(reqs []*request, cause error) {
	if len(reqs) == 1 {
		reqs[0].resp <- response{err: cause}
		return
	}
	l.cfg.Logger.Warn("eventlog: group commit failed, retrying one by one", "schema", l.cfg.Schema, "requests", len(reqs), "err", cause)
	for _, r := range reqs {
		f, err := l.send([]*request{r}, nil, nil)
		if err == nil {
			err = f.receive()
		}
		if err != nil {
			r.resp <- response{err: err}
			continue
		}
		f.answer()
	}
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
	// optimistic: the first statements check the head instead of reading.
	optimistic bool
	// readHead is the head read under the lock (exact commits); head and
	// versions are the log's after this commit.
	readHead, head int64
	versions       map[string]int64
}

// send starts a group commit of reqs. With head and versions given (the
// writer's memory), it decides in memory and puts the whole transaction on
// the wire (updating head and versions as if it succeeds); the server
// refuses it if the head moved. Without them it first reads head, recorded
// keys and stream versions under the lock (one round trip), then sends the
// rest. On error nothing is committed and nothing is in flight.
func (l *Log) send(reqs []*request, head *int64, versions map[string]int64) (_ *flight, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := l.cfg.Pool.Acquire(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("eventlog %s: acquire: %w", l.cfg.Schema, err)
	}
	f := &flight{l: l, ctx: ctx, cancel: cancel, conn: conn, reqs: reqs, optimistic: head != nil}
	defer func() {
		if err != nil {
			f.abort()
		}
	}()
	recorded := map[string][2]int64{}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT pg_advisory_xact_lock($1)", l.lockKey)
	if f.optimistic {
		f.readHead = *head
		b.Queue(l.q.checkHead, *head)
	} else {
		versions = map[string]int64{}
		if f.readHead, err = l.readState(ctx, conn, b, reqs, recorded, versions); err != nil {
			return nil, err
		}
		b = &pgx.Batch{}
	}
	f.head = f.readHead
	f.versions = map[string]int64{}
	if err := f.plan(b, recorded, versions); err != nil {
		return nil, err
	}
	if head != nil {
		*head = f.head
	}
	f.br = conn.SendBatch(ctx, b)
	return f, nil
}

// readState sends b (begin and lock) with the reads of an exact commit and
// returns the head, filling recorded keys and stream versions.
func (l *Log) readState(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, reqs []*request,
	recorded map[string][2]int64, versions map[string]int64) (int64, error) {
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
	b.Queue(l.q.head)
	b.Queue(l.q.findKeys, keys)
	b.Queue(l.q.streamVersions, streams)
	br := conn.SendBatch(ctx, b)
	var head int64
	err := func() error {
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
		return 0, fmt.Errorf("eventlog %s: %w", l.cfg.Schema, err)
	}
	return head, nil
}

// plan decides each request against the head and versions (streams absent
// from versions are at version 0), assigns positions and versions, and
// queues the writes and COMMIT on b. versions is updated as the commit
// will leave it.
func (f *flight) plan(b *pgx.Batch, recorded map[string][2]int64, versions map[string]int64) error {
	l := f.l
	now := time.Now().UTC().Truncate(time.Microsecond)
	f.resps = make([]response, len(f.reqs))
	var rows []row
	var idemKeys []string
	var idemFirst, idemLast []int64
	for i, r := range f.reqs {
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
		first := f.head + 1
		var evs []Event
		for _, a := range r.appends {
			for _, ne := range a.Events {
				id := ne.ID
				if id == "" {
					id = uuid.Must(uuid.NewV7()).String()
				}
				f.head++
				versions[a.StreamID]++
				f.versions[a.StreamID] = versions[a.StreamID]
				data := ne.Data
				if len(data) == 0 {
					data = json.RawMessage("{}")
				}
				ev := Event{ID: id, StreamID: a.StreamID, Version: versions[a.StreamID],
					Position: f.head, Type: ne.Type, Data: data, Metadata: r.meta, RecordedAt: now}
				evs = append(evs, ev)
				rows = append(rows, row{ev: ev, meta: meta})
			}
		}
		f.resps[i] = response{res: AppendResult{Events: evs}}
		if k := r.meta.IdempotencyKey; k != "" {
			idemKeys = append(idemKeys, k)
			idemFirst = append(idemFirst, first)
			idemLast = append(idemLast, f.head)
		}
	}
	f.rows, f.keys = len(rows), len(idemKeys)
	if len(rows) > 0 {
		b.Queue(l.q.insert, insertArgs(rows)...)
		if len(idemKeys) > 0 {
			b.Queue(l.q.insertKeys, idemKeys, idemFirst, idemLast, now)
		}
		b.Queue("SELECT pg_notify($1, $2)", NotifyChannel(l.cfg.Schema), strconv.FormatInt(f.head, 10))
		if l.cfg.Inline != nil {
			evs := make([]Event, len(rows))
			for i, r := range rows {
				evs[i] = r.ev
			}
			var err error
			if f.inline, err = l.cfg.Inline(evs); err != nil {
				return fmt.Errorf("eventlog %s: inline projection: %w", l.cfg.Schema, err)
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
	return nil
}

// receive reads the answers of the commit. On error nothing was committed,
// unless the error is ErrOutcomeUnknown (see outcomeUnknown).
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
	failed := func(what string, err error, commit bool) error {
		if outcomeUnknown(err, commit) {
			return fmt.Errorf("%s: %w: %w", what, ErrOutcomeUnknown, err)
		}
		return fmt.Errorf("%s: %w", what, translate(err))
	}
	err = func() error {
		if f.optimistic {
			for _, what := range []string{"begin", "lock", "head check"} {
				if _, err := br.Exec(); err != nil {
					return failed(what, err, false)
				}
			}
		}
		if f.rows > 0 {
			if _, err := br.Exec(); err != nil {
				return failed("insert", err, false)
			}
			if f.keys > 0 {
				if _, err := br.Exec(); err != nil {
					return failed("insert keys", err, false)
				}
			}
			if _, err := br.Exec(); err != nil {
				return failed("notify", err, false)
			}
		}
		for _, st := range f.inline {
			if _, err := br.Exec(); err != nil {
				return failed(fmt.Sprintf("inline projection %q", st.SQL), err, false)
			}
		}
		for _, d := range f.dups {
			rs, err := br.Query()
			if err != nil {
				return failed("read duplicate", err, false)
			}
			evs, err := scanEvents(rs)
			if err != nil {
				return failed("read duplicate", err, false)
			}
			f.resps[d.i] = response{res: AppendResult{Events: evs, Duplicate: true}}
		}
		tag, err := br.Exec()
		if err != nil {
			return failed("commit", err, true)
		}
		// COMMIT of a failed transaction answers ROLLBACK, not an error.
		if tag.String() != "COMMIT" {
			return fmt.Errorf("commit answered %q", tag.String())
		}
		// Committed: a failure to read what follows only costs the
		// connection (Release discards one left broken or busy).
		_ = br.Close()
		return nil
	}()
	if err != nil {
		br.Close()
		return fmt.Errorf("eventlog %s: %w", f.l.cfg.Schema, err)
	}
	f.l.commits.Add(1)
	f.l.committed.Add(int64(f.rows))
	return nil
}

// outcomeUnknown reports whether err, met reading the answer of a statement
// of a commit whose whole pipeline (COMMIT included) was sent, leaves the
// commit's outcome unknown. Only an answer of the server settles it: an
// error answered for a statement before COMMIT (the transaction is aborted;
// a FATAL ends the session before it reads COMMIT), or an ERROR answered for
// COMMIT itself (rolled back). So do errors pgx raised before sending
// anything. A lost connection, a timeout, an answer that could not be read
// or a FATAL during COMMIT (the session ended, perhaps after committing)
// leave it unknown.
func outcomeUnknown(err error, commit bool) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		sev := pgErr.SeverityUnlocalized
		if sev == "" {
			sev = pgErr.Severity
		}
		return commit && sev != "ERROR"
	}
	var pre pgx.ErrPreprocessingBatch
	if errors.As(err, &pre) || pgconn.SafeToRetry(err) {
		return false
	}
	return true
}

// answer hands each request its outcome.
func (f *flight) answer() {
	for i, r := range f.reqs {
		r.resp <- f.resps[i]
	}
}

// answerUnknown answers the requests of a commit whose outcome is unknown:
// err, except those refused before the commit was sent (a version conflict
// decided in memory), which keep their own answer.
func (f *flight) answerUnknown(err error) {
	for i, r := range f.reqs {
		if f.resps != nil && f.resps[i].err != nil {
			r.resp <- f.resps[i]
			continue
		}
		r.resp <- response{err: err}
	}
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

// translate turns constraint violations into clearer errors.
func translate(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "events_stream_version":
			return fmt.Errorf("%w (the stream moved on)", ErrVersionConflict)
		case "events_event_id_key":
			return fmt.Errorf("eventlog: duplicate event id: %w", err)
		}
	}
	return err
}
