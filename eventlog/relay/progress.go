package relay

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the relay's progress table in schema (the
// area's schema, component "relay"). Idempotent and safe from several
// processes at once; Run calls it too.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return pgmigrate.Apply(ctx, pool, schema, "relay", migrations)
}

// progress is how far the relay got: the last position copied into Redis
// and, per partition, the last position copied into that partition's
// stream (the prev of its next entry).
type progress struct {
	position int64
	last     []int64
	// dirty: copied into Redis but not yet recorded.
	dirty bool
	// savedAt is when the progress was last recorded.
	savedAt time.Time
}

// progressEvery is how often a busy relay records its progress: not after
// every batch, since a crash before the record only means re-sends, which
// Redis refuses by their explicit ids. An idle relay records it at once.
const progressEvery = time.Second

// loadProgress returns the recorded progress, creating the area's row on
// first use. A row recorded with another partition count is a fatal
// misconfiguration: the prev chains and the stream of every stream id would
// change under the consumers' feet.
func (r *Relay) loadProgress(ctx context.Context) (progress, error) {
	t := r.cfg.Schema + ".relay_progress"
	_, err := r.cfg.Pool.Exec(ctx, "INSERT INTO "+t+" (area, position, partitions, partition_last) "+
		"VALUES ($1, 0, $2, array_fill(0::bigint, ARRAY[$2::int])) ON CONFLICT (area) DO NOTHING",
		r.cfg.Area, r.cfg.Partitions)
	if err != nil {
		return progress{}, fmt.Errorf("relay %s: init progress: %w", r.cfg.Area, err)
	}
	var st progress
	var parts int
	err = r.cfg.Pool.QueryRow(ctx, "SELECT position, partitions, partition_last FROM "+t+" WHERE area = $1", r.cfg.Area).
		Scan(&st.position, &parts, &st.last)
	if err != nil {
		return progress{}, fmt.Errorf("relay %s: load progress: %w", r.cfg.Area, err)
	}
	if parts != r.cfg.Partitions || len(st.last) != parts {
		return progress{}, fatalError{fmt.Errorf("relay %s: progress was recorded for %d partitions (%d entries), configured %d: repartitioning is not supported",
			r.cfg.Area, parts, len(st.last), r.cfg.Partitions)}
	}
	return st, nil
}

// saveProgress records st. It never moves the record backwards, so a relay
// that lost its lock without noticing yet cannot undo a successor's work.
func (r *Relay) saveProgress(ctx context.Context, st *progress) error {
	_, err := r.cfg.Pool.Exec(ctx, "UPDATE "+r.cfg.Schema+".relay_progress "+
		"SET position = $2, partition_last = $3, updated_at = now() WHERE area = $1 AND position < $2",
		r.cfg.Area, st.position, st.last)
	if err != nil {
		return fmt.Errorf("relay %s: record progress at %d: %w", r.cfg.Area, st.position, err)
	}
	st.dirty, st.savedAt = false, time.Now()
	return nil
}
