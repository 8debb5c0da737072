package consumer

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/pgmigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate creates or updates the checkpoint and dead-letter tables in schema
// (created when missing) of the consumer's own database. It is idempotent
// and safe to run from several processes at once. It fails on an invalid
// schema name or a database error.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return pgmigrate.Apply(ctx, pool, schema, "consumer", migrationFiles)
}

// queries holds the SQL of one schema; the schema name is validated before
// it is spliced in.
type queries struct {
	ensure, read, advance, through, park, migrated string
}

func newQueries(schema string) queries {
	cp := schema + ".consumer_checkpoints"
	return queries{
		ensure: `INSERT INTO ` + cp + ` (name, area, partition)
			SELECT n, $2, p FROM unnest($1::text[]) n, unnest($3::integer[]) p ON CONFLICT DO NOTHING`,
		read:    `SELECT name, partition, position FROM ` + cp + ` WHERE name = ANY($1::text[]) AND area = $2 AND partition = ANY($3::integer[])`,
		advance: `SELECT ` + schema + `.consumer_advance($1::text[], $2, $3::integer[], $4::bigint[], $5::bigint[])`,
		through: `UPDATE ` + cp + ` SET through = $4 WHERE name = ANY($1::text[]) AND area = $2 AND partition = ANY($3::integer[]) AND through < $4`,
		park: `INSERT INTO ` + schema + `.consumer_dead_letters
			(name, area, position, partition, event_id, stream_id, version, type, data, metadata, recorded_at, error, attempts, consumer_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
		migrated: `SELECT to_regclass($1) IS NOT NULL AND to_regprocedure($2) IS NOT NULL`,
	}
}

// cpKey is one sink's checkpoint row of one partition.
type cpKey struct {
	sink string
	p    int
}

// readCheckpoints returns every sink's checkpoints of partitions ps,
// creating the rows that are missing, in one round trip.
func (c *Consumer) readCheckpoints(ctx context.Context, ps []int) (map[cpKey]int64, error) {
	b := &pgx.Batch{}
	b.Queue(c.q.ensure, c.names, c.cfg.Area, ps)
	b.Queue(c.q.read, c.names, c.cfg.Area, ps)
	br := c.cfg.Pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("create checkpoints: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	out := make(map[cpKey]int64, len(ps)*len(c.names))
	var name string
	var p int
	var pos int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &p, &pos}, func() error { out[cpKey{name, p}] = pos; return nil }); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// parkStmt is the dead-letter row of a parked event, queued in the batch
// that moves the checkpoint past it.
func (c *Consumer) parkStmt(b *Batch, sink string, p int, ev eventlog.Event, cause error, attempts int) {
	meta, err := json.Marshal(ev.Metadata)
	if err != nil {
		meta = []byte(`{}`)
	}
	b.Exec(c.q.park, sink, c.cfg.Area, ev.Position, p, clean(ev.ID), clean(ev.StreamID),
		ev.Version, clean(ev.Type), clean(string(ev.Data)), meta, ev.RecordedAt, clean(cause.Error()), attempts, c.cfg.ConsumerID)
}

// clean makes s storable as PostgreSQL text (valid UTF-8, no NUL), so that a
// malformed poison event can still be parked instead of blocking forever.
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Checkpoints returns the checkpoint of every partition of consumer name on
// area that has one, read from the tables Migrate created in schema. It fails
// on an invalid schema name or a database error.
func Checkpoints(ctx context.Context, pool *pgxpool.Pool, schema, name, area string) (map[int]int64, error) {
	if !pgmigrate.ValidIdent(schema) {
		return nil, fmt.Errorf("consumer: invalid schema %q", schema)
	}
	rows, err := pool.Query(ctx, `SELECT partition, position FROM `+schema+`.consumer_checkpoints
		WHERE name = $1 AND area = $2`, name, area)
	if err != nil {
		return nil, fmt.Errorf("consumer %s/%s: checkpoints: %w", name, area, err)
	}
	out := map[int]int64{}
	var p int
	var pos int64
	_, err = pgx.ForEachRow(rows, []any{&p, &pos}, func() error {
		out[p] = pos
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s/%s: checkpoints: %w", name, area, err)
	}
	return out, nil
}

// DeadLetter is an event parked after its handler kept failing.
type DeadLetter struct {
	Name       string
	Area       string
	Partition  int
	Event      eventlog.Event
	Error      string
	Attempts   int
	ConsumerID string
	ParkedAt   time.Time
}

// DeadLetters returns up to limit (all when limit <= 0) events parked by
// consumer name on area, most recently parked first. It fails on an invalid
// schema name or a database error.
func DeadLetters(ctx context.Context, pool *pgxpool.Pool, schema, name, area string, limit int) ([]DeadLetter, error) {
	if !pgmigrate.ValidIdent(schema) {
		return nil, fmt.Errorf("consumer: invalid schema %q", schema)
	}
	sql := `SELECT partition, position, event_id, stream_id, version, type, data, metadata, recorded_at,
			error, attempts, consumer_id, parked_at
		FROM ` + schema + `.consumer_dead_letters WHERE name = $1 AND area = $2
		ORDER BY parked_at DESC, position DESC`
	args := []any{name, area}
	if limit > 0 {
		sql += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("consumer %s/%s: dead letters: %w", name, area, err)
	}
	var out []DeadLetter
	var d DeadLetter
	var data string
	var meta []byte
	_, err = pgx.ForEachRow(rows, []any{&d.Partition, &d.Event.Position, &d.Event.ID, &d.Event.StreamID,
		&d.Event.Version, &d.Event.Type, &data, &meta, &d.Event.RecordedAt, &d.Error, &d.Attempts,
		&d.ConsumerID, &d.ParkedAt}, func() error {
		d.Name, d.Area = name, area
		d.Event.Data = json.RawMessage(data)
		d.Event.Metadata = eventlog.Metadata{}
		if err := json.Unmarshal(meta, &d.Event.Metadata); err != nil {
			return fmt.Errorf("metadata of %s: %w", d.Event.ID, err)
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s/%s: dead letters: %w", name, area, err)
	}
	return out, nil
}

// CountDeadLetters returns how many events consumer name on area has parked
// (for metrics). It fails on an invalid schema name or a database error.
func CountDeadLetters(ctx context.Context, pool *pgxpool.Pool, schema, name, area string) (int64, error) {
	if !pgmigrate.ValidIdent(schema) {
		return 0, fmt.Errorf("consumer: invalid schema %q", schema)
	}
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.consumer_dead_letters WHERE name = $1 AND area = $2`,
		name, area).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("consumer %s/%s: count dead letters: %w", name, area, err)
	}
	return n, nil
}
