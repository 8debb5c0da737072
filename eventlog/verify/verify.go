// Package verify checks a consumer-fed model (a read model, an area's
// replica) against its sources: Run replays the source areas' logs into
// scratch tables with the model's own Apply, up to the cut the live
// consumer has reached, and compares them row by row with the live tables
// (docs/verify.md). It knows no model: projector.Verify and
// kit.VerifyReplica describe theirs in a Config.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/pgmigrate"
)

// Config describes one consumer-fed model (a read model or an area's
// replica) that Run rebuilds from its source areas' logs into scratch
// tables and compares with the live tables at a consistent cut (see
// docs/verify.md). Zero values take the documented defaults.
type Config struct {
	// Pool is the consumer's database: the live tables, the consumer's
	// checkpoints and dead letters, and the scratch schema. Run keeps
	// one connection for itself and needs at least one more.
	Pool *pgxpool.Pool
	// Schema holds the live tables and the consumer's checkpoint and
	// dead-letter tables.
	Schema string
	// Scratch is the schema the replay writes. It is dropped first when a
	// crashed run left it, and dropped at the end whatever happens.
	Scratch string
	// Name is the live consumer's name (of its checkpoints and dead letters).
	Name string
	// Label names the model in results and errors ("read.customers").
	Label string
	// Areas are the source areas, replayed in this order; Sources holds
	// each one's log.
	Areas   []string
	Sources map[string]consumer.LogSource
	// Partitions of every area's log; must equal the relays' (default 8).
	Partitions int
	// Prepare creates the model's tables in the scratch schema (which may
	// not exist yet).
	Prepare func(ctx context.Context, pool *pgxpool.Pool, scratch string) error
	// Handler returns the handler that applies area's events to the
	// scratch tables: the live consumer's own code, on the scratch schema.
	// Run hands it each page of the log, filtered by the cut, as one batch
	// (consumer.Replay); an event that fails is left out and reported in
	// Result.Failed.
	Handler func(area string) consumer.Handler
	// Tables are the tables compared, by the same name in both schemas.
	Tables []TableSpec
	// MaxRows caps the differing rows listed per table (default 20); all
	// are counted.
	MaxRows int
	// LockTimeout bounds the wait for the live tables' ACCESS SHARE lock
	// (default 10s): a rebuild switching the same tables holds them.
	LockTimeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// TableSpec says how one table is compared: rows are matched by Key and
// compared on every column but those listed, each with its reason in
// docs/verify.md.
type TableSpec struct {
	// Name of the table in both the live and the scratch schema.
	Name string
	// Key are the columns that identify a row (the primary key).
	Key []string
	// Where, when set, restricts both sides to the rows it accepts: an SQL
	// condition over the row alias x.
	Where string
	// Ignore are columns never compared: values that legitimately differ
	// between a live table and a replay (a surrogate order drawn on arrival).
	Ignore []string
	// Clocked are columns computed against the applying transaction's clock;
	// they are left out for the rows where ClockedWhen holds (an SQL
	// condition over the row alias x, in which {live} and {scratch} stand
	// for the two schemas) and compared everywhere else.
	Clocked     []string
	ClockedWhen string
}

// Result is what Run found.
type Result struct {
	Label string
	// Cut is, per source area, the highest live checkpoint over its
	// partitions at the compared snapshot.
	Cut map[string]int64
	// Replayed counts the events applied to the scratch tables; CaughtUp
	// those of them applied in the comparing transaction (committed by
	// the live consumer while the replay ran).
	Replayed, CaughtUp int64
	// Parked lists "area/position" of events the live consumer parked as
	// dead letters at or below the cut: left out of the replay as well.
	Parked []string
	// Failed lists "area/position (id): error" of events at or below the
	// cut, not parked by the live consumer, whose Apply failed in the
	// replay: the live model has them, the replay cannot.
	Failed []string
	Tables []TableResult
	// Duration is the whole verification's wall time.
	Duration time.Duration
}

// Equal reports whether the live model matched the replay: no differing
// row and no event that failed only in the replay.
func (r Result) Equal() bool {
	if len(r.Failed) > 0 {
		return false
	}
	for _, t := range r.Tables {
		if t.Differing > 0 {
			return false
		}
	}
	return true
}

// DiffLines returns the differing rows it printed out, table after table.
func (r Result) DiffLines() []string {
	var out []string
	for _, t := range r.Tables {
		for _, d := range t.Diffs {
			out = append(out, d.String())
		}
	}
	return out
}

// Rows counts the live rows compared.
func (r Result) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.LiveRows
	}
	return n
}

func (c *Config) setDefaults() {
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 20
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Label == "" {
		c.Label = c.Schema + "." + c.Name
	}
}

// Validate reports every problem of the configuration (after defaults).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("verify: "+format, args...)) }
	if c.Pool == nil {
		bad("Pool is required")
	}
	if !pgmigrate.ValidIdent(c.Schema) {
		bad("invalid Schema %q", c.Schema)
	}
	if !pgmigrate.ValidIdent(c.Scratch) || c.Scratch == c.Schema {
		bad("invalid Scratch schema %q", c.Scratch)
	}
	if c.Name == "" {
		bad("Name is required")
	}
	if c.Partitions < 1 {
		bad("Partitions %d < 1", c.Partitions)
	}
	if c.Prepare == nil || c.Handler == nil {
		bad("Prepare and Handler are required")
	}
	if len(c.Areas) == 0 {
		bad("no Areas")
	}
	for _, a := range c.Areas {
		if c.Sources[a] == nil {
			bad("needs source %q", a)
		}
	}
	if len(c.Tables) == 0 {
		bad("no Tables")
	}
	for _, t := range c.Tables {
		if !pgmigrate.ValidIdent(t.Name) || len(t.Key) == 0 {
			bad("table %q: invalid name or no key", t.Name)
		}
		for _, col := range slices.Concat(t.Key, t.Ignore, t.Clocked) {
			if !pgmigrate.ValidIdent(col) {
				bad("table %s: invalid column %q", t.Name, col)
			}
		}
		if (len(t.Clocked) > 0) != (t.ClockedWhen != "") {
			bad("table %s: Clocked and ClockedWhen go together", t.Name)
		}
	}
	return errors.Join(errs...)
}

// cut is, per area, the live checkpoint of each partition and the
// positions the live consumer parked.
type cut struct {
	pos    map[string][]int64
	parked map[string]map[int64]bool
}

// keep reports whether ev of area lies at or below its partition's
// checkpoint and was not parked: the live tables have applied it.
func (c cut) keep(area string, ev eventlog.Event, partitions int) bool {
	return ev.Position <= c.pos[area][eventlog.Partition(ev.StreamID, partitions)] && !c.parked[area][ev.Position]
}

func (c cut) max(area string) int64 {
	var m int64
	for _, p := range c.pos[area] {
		m = max(m, p)
	}
	return m
}

// verifier is the state of one Run.
type verifier struct {
	cfg  Config
	conn *pgxpool.Conn
	log  *slog.Logger
	res  Result
}

// Run rebuilds the model cfg describes from its areas' logs into
// cfg.Scratch and compares it row by row with the live tables, at a cut the
// live consumer had reached: the events at or below each partition's live
// checkpoint, except those it parked as dead letters. The live consumer may
// keep running throughout. The replay happens in two steps: up to the
// checkpoints read first, in one transaction per page; then one REPEATABLE
// READ transaction locks the live tables (ACCESS SHARE), reads the
// checkpoints and dead letters again, applies the events the live consumer
// committed meanwhile and compares every table, all from one snapshot.
// Nothing live is written; the scratch schema is dropped at the end, also on
// error or cancellation. Differences are in the result (Equal); an error
// means the verification could not be done: bad config, a log or database
// error, another Run of the same scratch schema running, a checkpoint
// that moved backwards (a rebuild switched meanwhile: run again), ctx done.
func Run(ctx context.Context, cfg Config) (Result, error) {
	start := time.Now()
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	v := &verifier{cfg: cfg, log: cfg.Logger.With("verify", cfg.Label),
		res: Result{Label: cfg.Label, Cut: map[string]int64{}}}
	fail := func(what string, err error) (Result, error) {
		return v.res, fmt.Errorf("verify %s: %s: %w", cfg.Label, what, err)
	}
	conn, err := cfg.Pool.Acquire(ctx)
	if err != nil {
		return fail("connect", err)
	}
	v.conn = conn
	lockKey := cfg.Scratch
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('crm.verify'), hashtext($1))`, lockKey).Scan(&ok); err != nil {
		conn.Release()
		return fail("lock", err)
	}
	if !ok {
		conn.Release()
		return fail("lock", errors.New("another verify of it is running"))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(cctx, `DROP SCHEMA IF EXISTS `+cfg.Scratch+` CASCADE`); err != nil {
			v.log.Warn("verify: scratch schema not dropped (the next verify drops it)", "scratch", cfg.Scratch, "err", err)
		}
		if _, err := conn.Exec(cctx, `SELECT pg_advisory_unlock(hashtext('crm.verify'), hashtext($1))`, lockKey); err != nil {
			_ = conn.Conn().Close(cctx) // a pooled connection must not keep the lock
		}
		conn.Release()
	}()

	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+cfg.Scratch+` CASCADE`); err != nil {
		return fail("drop leftover "+cfg.Scratch, err)
	}
	if err := cfg.Prepare(ctx, cfg.Pool, cfg.Scratch); err != nil {
		return fail("prepare "+cfg.Scratch, err)
	}
	// Step 1: replay up to the checkpoints as they are now, page by page.
	first, err := v.readCut(ctx, conn)
	if err != nil {
		return fail("read checkpoints", err)
	}
	for _, area := range cfg.Areas {
		if err := v.replay(ctx, area, first); err != nil {
			return fail("replay "+area, err)
		}
	}
	// Step 2: one snapshot for the rest.
	if err := v.compareAtCut(ctx, first); err != nil {
		return fail("compare", err)
	}
	v.res.Duration = time.Since(start)
	return v.res, nil
}

// readCut reads the checkpoints and dead letters of the live consumer.
// Checkpoints are read first: a parked event's dead letter is committed
// with the checkpoint that passes it, so every parked event at or below
// the checkpoints read is in the dead letters read after them (in one
// snapshot, exactly those of that snapshot).
func (v *verifier) readCut(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (cut, error) {
	c := cut{pos: map[string][]int64{}, parked: map[string]map[int64]bool{}}
	for _, a := range v.cfg.Areas {
		c.pos[a] = make([]int64, v.cfg.Partitions)
		c.parked[a] = map[int64]bool{}
	}
	rows, err := q.Query(ctx, `SELECT area, partition, position FROM `+v.cfg.Schema+`.consumer_checkpoints
		WHERE name = $1 AND area = ANY($2)`, v.cfg.Name, v.cfg.Areas)
	if err != nil {
		return c, err
	}
	var area string
	var p int
	var pos int64
	if _, err := pgx.ForEachRow(rows, []any{&area, &p, &pos}, func() error {
		if p >= v.cfg.Partitions {
			return fmt.Errorf("checkpoint of %s partition %d, but Partitions is %d", area, p, v.cfg.Partitions)
		}
		c.pos[area][p] = pos
		return nil
	}); err != nil {
		return c, err
	}
	rows, err = q.Query(ctx, `SELECT area, position FROM `+v.cfg.Schema+`.consumer_dead_letters
		WHERE name = $1 AND area = ANY($2)`, v.cfg.Name, v.cfg.Areas)
	if err != nil {
		return c, fmt.Errorf("dead letters: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&area, &pos}, func() error {
		c.parked[area][pos] = true
		return nil
	}); err != nil {
		return c, fmt.Errorf("dead letters: %w", err)
	}
	return c, nil
}

// replay applies area's events that c keeps, reading the log from the
// start up to the highest checkpoint, one transaction per page.
func (v *verifier) replay(ctx context.Context, area string, c cut) error {
	var after int64
	limit := c.max(area)
	if limit <= 0 {
		return nil
	}
	pages := consumer.ReadAhead(ctx, v.cfg.Sources[area], after, eventlog.MaxPageLimit)
	defer pages.Stop()
	for after < limit {
		evs, err := pages.Next(ctx)
		if err != nil {
			return fmt.Errorf("read after %d: %w", after, err)
		}
		if len(evs) == 0 {
			return fmt.Errorf("log ends at %d below the live checkpoint %d", after, limit)
		}
		var kept []eventlog.Event
		for _, ev := range evs {
			if c.keep(area, ev, v.cfg.Partitions) {
				kept = append(kept, ev)
			}
		}
		if len(kept) > 0 {
			if err := pgx.BeginFunc(ctx, v.conn, func(tx pgx.Tx) error { return v.apply(ctx, tx, area, kept) }); err != nil {
				return err
			}
			v.res.Replayed += int64(len(kept))
		}
		after = evs[len(evs)-1].Position
	}
	return nil
}

// apply applies evs of area inside tx with consumer.Replay, recording
// those left out in Failed.
func (v *verifier) apply(ctx context.Context, tx pgx.Tx, area string, evs []eventlog.Event) error {
	return consumer.Replay(ctx, tx, v.cfg.Handler(area), evs, func(ev eventlog.Event, err error) {
		v.log.Warn("verify: an event the live consumer applied fails in the replay", "area", area,
			"position", ev.Position, "event_id", ev.ID, "stream_id", ev.StreamID, "err", err)
		v.res.Failed = append(v.res.Failed, fmt.Sprintf("%s/%d (%s): %v", area, ev.Position, ev.ID, err))
	})
}

// compareAtCut is step 2: in one REPEATABLE READ transaction, whose
// snapshot is taken after the live tables are locked, it reads the cut
// again, applies what the live consumer committed since first, compares
// every table and rolls back.
func (v *verifier) compareAtCut(ctx context.Context, first cut) error {
	tx, err := v.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, v.cfg.LockTimeout.Milliseconds())); err != nil {
		return err
	}
	// LOCK takes no snapshot: the first query after it does, so a rebuild
	// that switched the tables before the lock is seen whole, and none can
	// switch them until this transaction ends.
	var live []string
	for _, t := range v.cfg.Tables {
		live = append(live, v.cfg.Schema+"."+t.Name)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(live, ", ")+` IN ACCESS SHARE MODE`); err != nil {
		return fmt.Errorf("lock live tables: %w", err)
	}
	second, err := v.readCut(ctx, tx)
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	for _, area := range v.cfg.Areas {
		v.res.Cut[area] = second.max(area)
		// The events of each partition in (first, second] checkpoint.
		from := int64(-1)
		for p, pos := range second.pos[area] {
			prev := first.pos[area][p]
			if pos < prev {
				return fmt.Errorf("checkpoint of %s partition %d moved back from %d to %d (a rebuild switched?); run again", area, p, prev, pos)
			}
			if pos > prev && (from < 0 || prev < from) {
				from = prev
			}
		}
		for pos := range second.parked[area] {
			if pos <= v.res.Cut[area] {
				v.res.Parked = append(v.res.Parked, fmt.Sprintf("%s/%d", area, pos))
			}
		}
		if from < 0 {
			continue
		}
		for after, limit := from, second.max(area); after < limit; {
			evs, err := v.cfg.Sources[area].ReadLog(ctx, after, eventlog.MaxPageLimit)
			if err != nil {
				return fmt.Errorf("read %s after %d: %w", area, after, err)
			}
			if len(evs) == 0 {
				return fmt.Errorf("log of %s ends at %d below the live checkpoint %d", area, after, limit)
			}
			var kept []eventlog.Event
			for _, ev := range evs {
				if second.keep(area, ev, v.cfg.Partitions) && !first.keep(area, ev, v.cfg.Partitions) {
					kept = append(kept, ev)
				}
			}
			if err := v.apply(ctx, tx, area, kept); err != nil {
				return fmt.Errorf("catch up %s: %w", area, err)
			}
			v.res.Replayed += int64(len(kept))
			v.res.CaughtUp += int64(len(kept))
			after = evs[len(evs)-1].Position
		}
	}
	slices.Sort(v.res.Parked)
	for _, t := range v.cfg.Tables {
		tr, err := v.compareTable(ctx, tx, t)
		if err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		v.res.Tables = append(v.res.Tables, tr)
	}
	return nil
}
