package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/pgmigrate"
)

// VerifyConfig describes one consumer-fed model (a read model or an area's
// replica) that Verify rebuilds from its source areas' logs into scratch
// tables and compares with the live tables at a consistent cut (see
// docs/verify.md). Zero values take the documented defaults.
type VerifyConfig struct {
	// Pool is the consumer's database: the live tables, the consumer's
	// checkpoints and dead letters, and the scratch schema. Verify keeps
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
	// Apply applies one event of area to the scratch tables inside tx,
	// with the live consumer's own code. An error leaves the event out
	// (under a savepoint) and is reported in VerifyResult.Failed.
	Apply func(ctx context.Context, tx pgx.Tx, area string, ev eventlog.Event) error
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

// Diff is one row that differs between the live table and the replay.
type Diff struct {
	Table string
	// Key is the row's key, "col=value,col=value".
	Key string
	// Live and Rebuilt are the differing columns of each side as a JSON
	// object, or the whole row when the other side lacks it; nil when this
	// side lacks the row.
	Live, Rebuilt json.RawMessage
}

// String is "table key: live=... rebuilt=...", "table key: missing from
// live, rebuilt=..." or "table key: extra in live, live=...".
func (d Diff) String() string {
	switch {
	case d.Live == nil:
		return fmt.Sprintf("%s %s: missing from live, rebuilt=%s", d.Table, d.Key, d.Rebuilt)
	case d.Rebuilt == nil:
		return fmt.Sprintf("%s %s: extra in live, live=%s", d.Table, d.Key, d.Live)
	default:
		return fmt.Sprintf("%s %s: live=%s rebuilt=%s", d.Table, d.Key, d.Live, d.Rebuilt)
	}
}

// TableResult is the comparison of one table.
type TableResult struct {
	Table                 string
	LiveRows, RebuiltRows int64
	// Differing counts every differing row; Diffs lists the first MaxRows
	// in key order.
	Differing int64
	Diffs     []Diff
}

// VerifyResult is what Verify found.
type VerifyResult struct {
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
func (r VerifyResult) Equal() bool {
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

// Rows counts the live rows compared.
func (r VerifyResult) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.LiveRows
	}
	return n
}

func (c *VerifyConfig) setDefaults() {
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
func (c VerifyConfig) Validate() error {
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
	if c.Prepare == nil || c.Apply == nil {
		bad("Prepare and Apply are required")
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

// verifier is the state of one Verify call.
type verifier struct {
	cfg  VerifyConfig
	conn *pgxpool.Conn
	log  *slog.Logger
	res  VerifyResult
}

// Verify rebuilds the model cfg describes from its areas' logs into
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
// error, another Verify of the same scratch schema running, a checkpoint
// that moved backwards (a rebuild switched meanwhile: run again), ctx done.
func Verify(ctx context.Context, cfg VerifyConfig) (VerifyResult, error) {
	start := time.Now()
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return VerifyResult{}, err
	}
	v := &verifier{cfg: cfg, log: cfg.Logger.With("verify", cfg.Label),
		res: VerifyResult{Label: cfg.Label, Cut: map[string]int64{}}}
	fail := func(what string, err error) (VerifyResult, error) {
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
	for limit := c.max(area); after < limit; {
		evs, err := v.cfg.Sources[area].ReadLog(ctx, after, eventlog.MaxPageLimit)
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
		if err := v.applyPage(ctx, area, kept); err != nil {
			return err
		}
		after = evs[len(evs)-1].Position
	}
	return nil
}

// applyPage applies evs in one transaction; when one fails, the page is
// redone with a savepoint per event, leaving out the failing ones.
func (v *verifier) applyPage(ctx context.Context, area string, evs []eventlog.Event) error {
	if len(evs) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, v.conn, func(tx pgx.Tx) error {
		for _, ev := range evs {
			if err := v.cfg.Apply(ctx, tx, area, ev); err != nil {
				return &applyFailure{ev: ev, err: err}
			}
		}
		return nil
	})
	var af *applyFailure
	if errors.As(err, &af) && ctx.Err() == nil && !lockFailure(af.err) {
		err = pgx.BeginFunc(ctx, v.conn, func(tx pgx.Tx) error { return v.applyGuarded(ctx, tx, area, evs) })
	}
	if err != nil {
		return err
	}
	v.res.Replayed += int64(len(evs))
	return nil
}

// applyGuarded applies each of evs under its own savepoint, leaving out
// (and recording in Failed) those whose Apply fails. A failing savepoint,
// a lost lock race, a closed connection or a cancelled ctx is an error.
func (v *verifier) applyGuarded(ctx context.Context, tx pgx.Tx, area string, evs []eventlog.Event) error {
	for _, ev := range evs {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if aerr := v.cfg.Apply(ctx, sp, area, ev); aerr != nil {
			if err := sp.Rollback(ctx); err != nil || ctx.Err() != nil || tx.Conn().IsClosed() || lockFailure(aerr) {
				return &applyFailure{ev: ev, err: aerr}
			}
			v.log.Warn("verify: an event the live consumer applied fails in the replay", "area", area,
				"position", ev.Position, "event_id", ev.ID, "stream_id", ev.StreamID, "err", aerr)
			v.res.Failed = append(v.res.Failed, fmt.Sprintf("%s/%d (%s): %v", area, ev.Position, ev.ID, aerr))
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	return nil
}

// applyNested applies evs inside tx under one savepoint; when one fails,
// it rolls back to the savepoint and applies them one savepoint each.
func (v *verifier) applyNested(ctx context.Context, tx pgx.Tx, area string, evs []eventlog.Event) error {
	if len(evs) == 0 {
		return nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	for _, ev := range evs {
		if err = v.cfg.Apply(ctx, sp, area, ev); err != nil {
			break
		}
	}
	if err == nil {
		return sp.Commit(ctx)
	}
	if rerr := sp.Rollback(ctx); rerr != nil || ctx.Err() != nil || lockFailure(err) {
		return errors.Join(err, rerr)
	}
	return v.applyGuarded(ctx, tx, area, evs)
}

// applyFailure is an Apply error of one event.
type applyFailure struct {
	ev  eventlog.Event
	err error
}

func (e *applyFailure) Error() string {
	return fmt.Sprintf("apply %s (position %d): %v", e.ev.ID, e.ev.Position, e.err)
}

func (e *applyFailure) Unwrap() error { return e.err }

// lockFailure reports deadlocks, serialization failures and lock timeouts:
// they say nothing about the event.
func lockFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01" || pgErr.Code == "55P03")
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
			if err := v.applyNested(ctx, tx, area, kept); err != nil {
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

// compareTable compares one table of the live schema with the scratch one
// by key, on every column but the spec's exclusions, in SQL.
func (v *verifier) compareTable(ctx context.Context, tx pgx.Tx, t TableSpec) (TableResult, error) {
	tr := TableResult{Table: t.Name}
	where := "true"
	if t.Where != "" {
		where = t.Where
	}
	var keyObj, keyText []string
	for _, k := range t.Key {
		keyObj = append(keyObj, fmt.Sprintf("'%s', x.%s", k, k))
		keyText = append(keyText, fmt.Sprintf("'%s=' || coalesce(x.%s::text, 'NULL')", k, k))
	}
	cond := "false"
	if len(t.Clocked) > 0 {
		cond = "(" + strings.NewReplacer("{live}", v.cfg.Schema, "{scratch}", v.cfg.Scratch).Replace(t.ClockedWhen) + ")"
	}
	masked := `to_jsonb(x) - $1::text[] - CASE WHEN ` + cond + ` THEN $2::text[] ELSE '{}'::text[] END`
	side := func(schema string) string {
		return `SELECT jsonb_build_object(` + strings.Join(keyObj, ", ") + `) AS k, ` +
			strings.Join(keyText, ` || ',' || `) + ` AS kt, ` + masked + ` AS j FROM ` +
			schema + `.` + t.Name + ` x WHERE ` + where
	}
	ignore, clocked := nonNil(t.Ignore), nonNil(t.Clocked)
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+v.cfg.Schema+`.`+t.Name+` x WHERE `+where+`),
		(SELECT count(*) FROM `+v.cfg.Scratch+`.`+t.Name+` x WHERE `+where+`)`).Scan(&tr.LiveRows, &tr.RebuiltRows); err != nil {
		return tr, err
	}
	rows, err := tx.Query(ctx, `WITH l AS (`+side(v.cfg.Schema)+`), r AS (`+side(v.cfg.Scratch)+`)
		SELECT coalesce(l.kt, r.kt), l.j::text, r.j::text, count(*) OVER ()
		FROM l FULL JOIN r ON l.k = r.k
		WHERE l.j IS DISTINCT FROM r.j
		ORDER BY coalesce(l.k, r.k) LIMIT $3`, ignore, clocked, v.cfg.MaxRows)
	if err != nil {
		return tr, err
	}
	var key string
	var lj, rj *string
	if _, err := pgx.ForEachRow(rows, []any{&key, &lj, &rj, &tr.Differing}, func() error {
		d, err := diffRow(t.Name, key, lj, rj)
		if err != nil {
			return err
		}
		tr.Diffs = append(tr.Diffs, d)
		return nil
	}); err != nil {
		return tr, err
	}
	return tr, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// diffRow keeps, of two differing rows, the columns that differ (both
// whole rows when none does by text, e.g. 1.50 and 1.5).
func diffRow(table, key string, live, rebuilt *string) (Diff, error) {
	d := Diff{Table: table, Key: key}
	compact := func(s string) json.RawMessage {
		var b bytes.Buffer
		if json.Compact(&b, []byte(s)) != nil {
			return json.RawMessage(s)
		}
		return b.Bytes()
	}
	if live == nil || rebuilt == nil {
		if live != nil {
			d.Live = compact(*live)
		}
		if rebuilt != nil {
			d.Rebuilt = compact(*rebuilt)
		}
		return d, nil
	}
	var l, r map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*live), &l); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(*rebuilt), &r); err != nil {
		return d, err
	}
	dl, dr := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for k, lv := range l {
		if rv, ok := r[k]; !ok || string(rv) != string(lv) {
			dl[k] = lv
			if ok {
				dr[k] = rv
			}
		}
	}
	for k, rv := range r {
		if _, ok := l[k]; !ok {
			dr[k] = rv
		}
	}
	if len(dl) == 0 && len(dr) == 0 {
		d.Live, d.Rebuilt = compact(*live), compact(*rebuilt)
		return d, nil
	}
	var err error
	if d.Live, err = json.Marshal(dl); err != nil { // map keys come out sorted
		return d, err
	}
	d.Rebuilt, err = json.Marshal(dr)
	return d, err
}

// ReplicaVerifyConfig configures VerifyReplica. Zero values take the
// documented defaults.
type ReplicaVerifyConfig struct {
	// Pool is the replicating area's database; Schema its schema (the
	// area's name).
	Pool   *pgxpool.Pool
	Schema string
	// Name is the consumer feeding the replica (default Schema: an area's
	// consumers are named after it).
	Name string
	// Source is the replicated area, Log its log, Mapper the replica's
	// Mapper (the one the area's Open gives its Replica).
	Source string
	Log    consumer.LogSource
	Mapper Mapper
	// Partitions of the source area's log (default 8).
	Partitions  int
	MaxRows     int
	LockTimeout time.Duration
	Logger      *slog.Logger
}

// ReplicaLabel names the replica of source kept by area: "area.source".
func ReplicaLabel(area, source string) string { return area + "." + source }

// VerifyReplica rebuilds an area's replica of Source from Source's log into
// the scratch schema "<schema>_verify_<source>", with the Replica's own
// handler, and compares its rows (area = Source) with the live replica on
// every column, as Verify does. The consumer feeding a replica also runs
// the area's reactions: an event parked because its reaction failed rolled
// the replica's change back too, and is left out of the replay as well.
// Errors as Verify.
func VerifyReplica(ctx context.Context, cfg ReplicaVerifyConfig) (VerifyResult, error) {
	if cfg.Name == "" {
		cfg.Name = cfg.Schema
	}
	if !pgmigrate.ValidIdent(cfg.Source) {
		return VerifyResult{}, fmt.Errorf("verify: invalid Source %q", cfg.Source)
	}
	if cfg.Mapper == nil {
		return VerifyResult{}, errors.New("verify: Mapper is required")
	}
	scratch := cfg.Schema + "_verify_" + cfg.Source
	replica := NewReplica(ReplicaConfig{Pool: cfg.Pool, Schema: scratch, Source: cfg.Source, Name: cfg.Name,
		Partitions: cfg.Partitions, Mapper: cfg.Mapper})
	h := replica.Handler()
	return Verify(ctx, VerifyConfig{
		Pool: cfg.Pool, Schema: cfg.Schema, Scratch: scratch, Name: cfg.Name,
		Label: ReplicaLabel(cfg.Schema, cfg.Source), Areas: []string{cfg.Source},
		Sources:    map[string]consumer.LogSource{cfg.Source: cfg.Log},
		Partitions: cfg.Partitions, MaxRows: cfg.MaxRows, LockTimeout: cfg.LockTimeout, Logger: cfg.Logger,
		Prepare: MigrateReplica,
		Apply: func(ctx context.Context, tx pgx.Tx, _ string, ev eventlog.Event) error {
			return h.Handle(ctx, tx, ev)
		},
		// position is the log position of the last event that changed the
		// row: the same in a replay, so every column is compared.
		Tables: []TableSpec{{Name: "replica", Key: []string{"area", "id"}, Where: "x.area = '" + cfg.Source + "'"}},
	})
}
