package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog/consumer"
	"crm/eventlog/pgmigrate"
	"crm/eventlog/verify"
)

// VerifyConfig configures Verify. Zero values take the documented defaults.
type VerifyConfig struct {
	// Pool is the read database; Verify needs two of its connections.
	Pool *pgxpool.Pool
	// Schema holds the live read models and checkpoints (default "read").
	Schema string
	// Projection is the read model to verify.
	Projection Projection
	// Sources are the areas' logs; every source area of Projection must be
	// present.
	Sources map[string]consumer.LogSource
	// Partitions of every area's log; must equal the relays' (default 8).
	Partitions int
	// MaxRows caps the differing rows listed per table (default 20).
	MaxRows int
	// LockTimeout bounds the wait for the live tables' lock (default 10s).
	LockTimeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// verifyScratch is where projection name is replayed by Verify: apart from
// a rebuild's scratch schema, so the two never drop each other's tables.
func verifyScratch(schema, name string) string { return schema + "_verify_" + name }

// VerifyLabel names projection name in verify results: "read.<name>".
func VerifyLabel(name string) string { return "read." + name }

// Verify replays cfg.Projection from its areas' logs into the scratch
// schema "<schema>_verify_<name>" with the projection's own migrations and
// Apply (the live consumers' code path, as Rebuild), never switches, and
// compares every table row by row with the live one at the cut the live
// consumers "read.<name>" had reached, leaving out the events they parked
// (verify.Run, docs/verify.md). The live Runner may keep running. The
// columns left out of the comparison are those of VerifyTables. It fails
// on a bad config or as verify.Run; differences are in the result.
func Verify(ctx context.Context, cfg VerifyConfig) (verify.Result, error) {
	if cfg.Schema == "" {
		cfg.Schema = "read"
	}
	if cfg.Projection == nil {
		return verify.Result{}, errors.New("projector: verify: Projection is required")
	}
	p := cfg.Projection
	name := p.Name()
	tables, err := VerifyTables(p)
	if err != nil {
		return verify.Result{}, err
	}
	scratch := verifyScratch(cfg.Schema, name)
	res, err := verify.Run(ctx, verify.Config{
		Pool: cfg.Pool, Schema: cfg.Schema, Scratch: scratch, Name: ConsumerName(name), Label: VerifyLabel(name),
		Areas: p.Sources(), Sources: cfg.Sources, Partitions: cfg.Partitions,
		MaxRows: cfg.MaxRows, LockTimeout: cfg.LockTimeout, Logger: cfg.Logger,
		Prepare: func(ctx context.Context, pool *pgxpool.Pool, scratch string) error {
			return pgmigrate.Apply(ctx, pool, scratch, "proj_"+name, p.Migrations())
		},
		Handler: func(area string) consumer.Handler { return handler(p, scratch, area) },
		Tables:  tables,
	})
	if err != nil {
		return res, fmt.Errorf("projector: %w", err)
	}
	return res, nil
}

// seqOnly leaves out seq: the cursor order is drawn from the table's
// identity sequence when a row is first created, in arrival order, which
// differs between a live model (fed by partitions and areas in any
// interleaving, and renumbered by every rebuild) and a replay.
var seqOnly = []string{"seq"}

// verifyTables lists, per projection, each table's key and the columns left
// out of Verify's comparison (docs/verify.md says why). A table missing
// here fails Verify rather than being compared loosely.
var verifyTables = map[string][]verify.TableSpec{
	"customers": {
		{Name: "customers", Key: []string{"id"}, Ignore: seqOnly,
			// Computed against the applying transaction's clock: an
			// appointment whose start lies between the live apply and the
			// replay counts in one and not the other. Equal whenever no
			// SCHEDULED appointment of the customer has started yet.
			Clocked: []string{"upcoming_appointment_count", "next_appointment_id"},
			ClockedWhen: `EXISTS (SELECT 1 FROM {scratch}.customer_appointments a
				WHERE a.customer_id = x.id AND a.status = 'SCHEDULED' AND a.starts_at <= now())
				OR EXISTS (SELECT 1 FROM {live}.customer_appointments a
				WHERE a.customer_id = x.id AND a.status = 'SCHEDULED' AND a.starts_at <= now())`},
		{Name: "customer_appointments", Key: []string{"id"}},
		{Name: "customer_deals", Key: []string{"id"}},
	},
	"salespeople": {
		{Name: "salespeople", Key: []string{"id"}, Ignore: seqOnly},
	},
	"appointments": {
		{Name: "appointments", Key: []string{"id"}, Ignore: seqOnly},
		{Name: "appointment_names", Key: []string{"id"}},
	},
	"campaigns": {
		{Name: "campaigns", Key: []string{"id"}, Ignore: seqOnly},
		{Name: "deals", Key: []string{"id"}, Ignore: seqOnly},
	},
	"events": {
		{Name: "events", Key: []string{"area", "position"}},
	},
}

// VerifyTables returns how Verify compares each table of p: key, ignored
// and clock-dependent columns. It fails when p has a table without a spec.
func VerifyTables(p Projection) ([]verify.TableSpec, error) {
	specs := map[string]verify.TableSpec{}
	for _, s := range verifyTables[p.Name()] {
		specs[s.Name] = s
	}
	var out []verify.TableSpec
	for _, t := range p.Tables() {
		s, ok := specs[t]
		if !ok {
			return nil, fmt.Errorf("projector: verify %s: table %s has no comparison spec", p.Name(), t)
		}
		out = append(out, s)
	}
	return out, nil
}
