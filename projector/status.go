package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/pgmigrate"
)

// State is what a projection is doing, as the gateway's ProjectionState.
type State string

// Projection states.
const (
	StateRunning    State = "RUNNING"
	StateCatchingUp State = "CATCHING_UP"
	StateStalled    State = "STALLED"
	StateRebuilding State = "REBUILDING"
)

// HeadReader reads the last committed position of an area's log.
// *eventlog.Log and *eventlog.Client satisfy it.
type HeadReader interface {
	Head(ctx context.Context) (int64, error)
}

// StatusOptions says where Status finds what it needs beyond the read
// database.
type StatusOptions struct {
	// Heads reads each area's log head. An area missing here, or whose
	// head cannot be read, adds nothing to the lag and is listed in
	// ProjectionStatus.UnknownHeads.
	Heads map[string]HeadReader
	// Partitions of every area's log (default 8): a partition without a
	// checkpoint row counts as at position 0.
	Partitions int
	// Rebuilding, when set, reports projections being rebuilt now.
	Rebuilding func(name string) bool
	// CatchingUpLag is the lag from which a projection is CATCHING_UP
	// rather than RUNNING (default 1000): a live projection is always a
	// few events behind.
	CatchingUpLag int64
}

// ProjectionStatus is one projection's health, for the gateway's
// `projections` query and /metrics.
type ProjectionStatus struct {
	Name  string
	State State
	// Lag approximates the events appended but not yet applied, summed
	// over the projection's source areas: for each area, its log head minus
	// the lowest per-partition mark max(checkpoint, through), floored at 0.
	// Every unapplied event lies above its own partition's mark, hence
	// above the lowest one, so Lag never under-counts; idle partitions
	// advance their through mark to the relayed head, so it reaches 0 when
	// everything is applied.
	Lag int64
	// UpdatedAt is the latest checkpoint commit of its consumers (nil
	// before the first).
	UpdatedAt *time.Time
	// DeadLettered counts the events its consumers parked.
	DeadLettered int64
	// UnknownHeads lists the source areas whose head could not be read.
	UnknownHeads []string
}

// Status returns the status of each projection in ps, read from the
// checkpoints and dead letters in schema and from the areas' heads. State
// is REBUILDING when opts.Rebuilding says so, else STALLED when it has dead
// letters, else CATCHING_UP when Lag >= CatchingUpLag, else RUNNING. It
// fails on an invalid schema or a read-database error (not on an
// unreachable area).
func Status(ctx context.Context, pool *pgxpool.Pool, schema string, opts StatusOptions, ps ...Projection) ([]ProjectionStatus, error) {
	if !pgmigrate.ValidIdent(schema) {
		return nil, fmt.Errorf("projector: invalid schema %q", schema)
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 8
	}
	if opts.CatchingUpLag <= 0 {
		opts.CatchingUpLag = 1000
	}
	heads := map[string]int64{}
	failed := map[string]bool{}
	head := func(area string) (int64, bool) {
		if h, ok := heads[area]; ok {
			return h, true
		}
		if failed[area] {
			return 0, false
		}
		hr := opts.Heads[area]
		if hr == nil {
			failed[area] = true
			return 0, false
		}
		h, err := hr.Head(ctx)
		if err != nil {
			failed[area] = true
			return 0, false
		}
		heads[area] = h
		return h, true
	}
	out := make([]ProjectionStatus, 0, len(ps))
	for _, p := range ps {
		st := ProjectionStatus{Name: p.Name()}
		marks, updated, err := checkpointMarks(ctx, pool, schema, ConsumerName(p.Name()), opts.Partitions)
		if err != nil {
			return nil, err
		}
		st.UpdatedAt = updated
		for _, area := range p.Sources() {
			h, ok := head(area)
			if !ok {
				st.UnknownHeads = append(st.UnknownHeads, area)
				continue
			}
			st.Lag += max(h-marks[area], 0)
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.consumer_dead_letters WHERE name = $1`,
			ConsumerName(p.Name())).Scan(&st.DeadLettered); err != nil {
			return nil, fmt.Errorf("projector: status %s: dead letters: %w", p.Name(), err)
		}
		switch {
		case opts.Rebuilding != nil && opts.Rebuilding(p.Name()):
			st.State = StateRebuilding
		case st.DeadLettered > 0:
			st.State = StateStalled
		case st.Lag >= opts.CatchingUpLag:
			st.State = StateCatchingUp
		default:
			st.State = StateRunning
		}
		out = append(out, st)
	}
	return out, nil
}

// checkpointMarks returns, per area, the lowest max(position, through) over
// the partitions of consumer name (0 when a partition has no row yet), and
// the latest checkpoint update.
func checkpointMarks(ctx context.Context, pool *pgxpool.Pool, schema, name string, partitions int) (map[string]int64, *time.Time, error) {
	rows, err := pool.Query(ctx, `SELECT area, count(*), min(greatest(position, through)), max(updated_at)
		FROM `+schema+`.consumer_checkpoints WHERE name = $1 AND partition < $2 GROUP BY area`, name, partitions)
	if err != nil {
		return nil, nil, fmt.Errorf("projector: status %s: checkpoints: %w", name, err)
	}
	defer rows.Close()
	marks := map[string]int64{}
	var latest *time.Time
	for rows.Next() {
		var area string
		var n, mark int64
		var at time.Time
		if err := rows.Scan(&area, &n, &mark, &at); err != nil {
			return nil, nil, fmt.Errorf("projector: status %s: checkpoints: %w", name, err)
		}
		if n < int64(partitions) {
			mark = 0
		}
		marks[area] = mark
		if latest == nil || at.After(*latest) {
			latest = &at
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("projector: status %s: checkpoints: %w", name, err)
	}
	return marks, latest, nil
}
