package eventlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	segjson "github.com/segmentio/encoding/json"
)

// MaxReadLimit caps the events one read returns.
const MaxReadLimit = 10000

type queries struct {
	head, checkHead, findKeys, lookupKey, streamVersions, insert, insertKeys, readRange, readLog, readStream string
}

func newQueries(schema string) queries {
	const cols = "position, event_id::text, stream_id, version, type, data, metadata, recorded_at"
	t := schema + ".events"
	return queries{
		head:     "SELECT coalesce(max(position), 0) FROM " + t,
		findKeys: "SELECT key, first_position, last_position FROM " + schema + ".idempotency WHERE key = ANY($1)",
		// One backward index probe per stream: cost independent of stream length.
		// Fails (division by zero) unless the head is $1: an optimistic
		// commit planned on a head another writer has moved.
		checkHead: "SELECT 1 / (CASE WHEN coalesce(max(position), 0) = $1 THEN 1 ELSE 0 END) FROM " + t,
		lookupKey: "SELECT first_position, last_position FROM " + schema + ".idempotency WHERE key = $1",
		streamVersions: "SELECT s, v FROM unnest($1::text[]) AS s, LATERAL (SELECT version AS v FROM " + t +
			" WHERE stream_id = s ORDER BY version DESC LIMIT 1) AS last",
		insert: "INSERT INTO " + t + " (position, event_id, stream_id, version, type, data, metadata, recorded_at) " +
			"SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::text[]::jsonb[], $7::text[]::jsonb[], $8::timestamptz[])",
		insertKeys: "INSERT INTO " + schema + ".idempotency (key, first_position, last_position, recorded_at) " +
			"SELECT k, f, l, $4 FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(k, f, l)",
		readRange:  "SELECT " + cols + " FROM " + t + " WHERE position BETWEEN $1 AND $2 ORDER BY position",
		readLog:    "SELECT " + cols + " FROM " + t + " WHERE position > $1 ORDER BY position LIMIT $2",
		readStream: "SELECT " + cols + " FROM " + t + " WHERE stream_id = $1 AND version > $2 ORDER BY version LIMIT $3",
	}
}

// NotifyChannel is the PostgreSQL channel on which the log announces each
// commit (payload: the new head position), so followers need not poll.
func NotifyChannel(schema string) string { return "eventlog_" + schema }

func clampLimit(limit int) int {
	if limit <= 0 || limit > MaxReadLimit {
		return MaxReadLimit
	}
	return limit
}

// ReadLog returns up to limit events after position after, in log order.
// Log order is commit order and positions are contiguous, so a reader that
// resumes after the last position it saw never misses an event.
func (l *Log) ReadLog(ctx context.Context, after int64, limit int) ([]Event, error) {
	rows, err := l.cfg.Pool.Query(ctx, l.q.readLog, after, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("eventlog %s: read log after %d: %w", l.cfg.Schema, after, err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("eventlog %s: read log after %d: %w", l.cfg.Schema, after, err)
	}
	return evs, nil
}

// ReadStream returns up to limit events of one stream after version
// afterVersion, in version order. An unknown stream has no events.
func (l *Log) ReadStream(ctx context.Context, streamID string, afterVersion int64, limit int) ([]Event, error) {
	rows, err := l.cfg.Pool.Query(ctx, l.q.readStream, streamID, afterVersion, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("eventlog %s: read stream %s: %w", l.cfg.Schema, streamID, err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("eventlog %s: read stream %s: %w", l.cfg.Schema, streamID, err)
	}
	return evs, nil
}

// ReadAllStream returns every event of a stream, for rebuilding an aggregate.
func (l *Log) ReadAllStream(ctx context.Context, streamID string) ([]Event, error) {
	return l.readStreamFrom(ctx, streamID, 0)
}

// readStreamFrom returns every event of a stream after version after.
func (l *Log) readStreamFrom(ctx context.Context, streamID string, after int64) ([]Event, error) {
	var all []Event
	for {
		evs, err := l.ReadStream(ctx, streamID, after, MaxReadLimit)
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
		if len(evs) < MaxReadLimit {
			return all, nil
		}
		after = evs[len(evs)-1].Version
	}
}

// LookupAndReadStream is Lookup(key) and ReadAllStream(streamID) in one
// round trip (a second only when the key is found or the stream is long):
// a command's idempotency check and its aggregate's load together.
func (l *Log) LookupAndReadStream(ctx context.Context, key, streamID string) (prev AppendResult, found bool, evs []Event, err error) {
	b := &pgx.Batch{}
	var first, last int64
	b.Queue(l.q.lookupKey, key).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&first, &last)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	b.Queue(l.q.readStream, streamID, int64(0), MaxReadLimit).Query(func(rows pgx.Rows) error {
		var err error
		evs, err = scanEvents(rows)
		return err
	})
	if err := l.cfg.Pool.SendBatch(ctx, b).Close(); err != nil {
		return AppendResult{}, false, nil, fmt.Errorf("eventlog %s: lookup key and read stream %s: %w", l.cfg.Schema, streamID, err)
	}
	if found {
		if prev, err = l.recorded(ctx, first, last); err != nil {
			return AppendResult{}, false, nil, err
		}
	}
	if len(evs) == MaxReadLimit {
		more, err := l.readStreamFrom(ctx, streamID, evs[len(evs)-1].Version)
		if err != nil {
			return AppendResult{}, false, nil, err
		}
		evs = append(evs, more...)
	}
	return prev, found, evs, nil
}

// Head is the position of the last committed event (0 for an empty log).
func (l *Log) Head(ctx context.Context) (int64, error) {
	var h int64
	if err := l.cfg.Pool.QueryRow(ctx, l.q.head).Scan(&h); err != nil {
		return 0, fmt.Errorf("eventlog %s: head: %w", l.cfg.Schema, err)
	}
	return h, nil
}

func scanEvents(rows pgx.Rows) ([]Event, error) {
	var evs []Event
	var e Event
	// data is scanned as bytes (each row's a fresh copy) rather than into
	// json.RawMessage, which pgx would unmarshal: the database holds valid
	// JSON, and validating it again cost a third of a log page's reading.
	var data, meta []byte
	_, err := pgx.ForEachRow(rows, []any{&e.Position, &e.ID, &e.StreamID, &e.Version, &e.Type, &data, &meta, &e.RecordedAt}, func() error {
		ev := e
		ev.Data = data
		ev.RecordedAt = e.RecordedAt.UTC()
		if err := segjson.Unmarshal(meta, &ev.Metadata); err != nil {
			return fmt.Errorf("event %d metadata: %w", e.Position, err)
		}
		evs = append(evs, ev)
		return nil
	})
	return evs, err
}

// Lookup returns the outcome of the append recorded with idempotency key
// key (Duplicate set), or ok=false when no append carried it.
func (l *Log) Lookup(ctx context.Context, key string) (res AppendResult, ok bool, err error) {
	if key == "" {
		return AppendResult{}, false, nil
	}
	var first, last int64
	err = l.cfg.Pool.QueryRow(ctx, l.q.lookupKey, key).Scan(&first, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return AppendResult{}, false, nil
	}
	if err != nil {
		return AppendResult{}, false, fmt.Errorf("eventlog %s: lookup key: %w", l.cfg.Schema, err)
	}
	res, err = l.recorded(ctx, first, last)
	return res, err == nil, err
}

// recorded is the outcome of the append that recorded positions first to
// last (a duplicate's answer).
func (l *Log) recorded(ctx context.Context, first, last int64) (AppendResult, error) {
	rows, err := l.cfg.Pool.Query(ctx, l.q.readRange, first, last)
	if err != nil {
		return AppendResult{}, fmt.Errorf("eventlog %s: lookup key: %w", l.cfg.Schema, err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return AppendResult{}, fmt.Errorf("eventlog %s: lookup key: %w", l.cfg.Schema, err)
	}
	return AppendResult{Events: evs, Duplicate: true}, nil
}
