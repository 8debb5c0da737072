package kit

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
// every column, as verify.Run does. The consumer feeding a replica also runs
// the area's reactions: an event parked because its reaction failed rolled
// the replica's change back too, and is left out of the replay as well.
// Errors as verify.Run.
func VerifyReplica(ctx context.Context, cfg ReplicaVerifyConfig) (verify.Result, error) {
	if cfg.Name == "" {
		cfg.Name = cfg.Schema
	}
	if !pgmigrate.ValidIdent(cfg.Source) {
		return verify.Result{}, fmt.Errorf("verify: invalid Source %q", cfg.Source)
	}
	if cfg.Mapper == nil {
		return verify.Result{}, errors.New("verify: Mapper is required")
	}
	scratch := cfg.Schema + "_verify_" + cfg.Source
	replica := NewReplica(ReplicaConfig{Pool: cfg.Pool, Schema: scratch, Source: cfg.Source, Name: cfg.Name,
		Partitions: cfg.Partitions, Mapper: cfg.Mapper})
	h := replica.Handler()
	return verify.Run(ctx, verify.Config{
		Pool: cfg.Pool, Schema: cfg.Schema, Scratch: scratch, Name: cfg.Name,
		Label: ReplicaLabel(cfg.Schema, cfg.Source), Areas: []string{cfg.Source},
		Sources:    map[string]consumer.LogSource{cfg.Source: cfg.Log},
		Partitions: cfg.Partitions, MaxRows: cfg.MaxRows, LockTimeout: cfg.LockTimeout, Logger: cfg.Logger,
		Prepare: MigrateReplica,
		Handler: func(string) consumer.Handler { return h },
		// position is the log position of the last event that changed the
		// row: the same in a replay, so every column is compared.
		Tables: []verify.TableSpec{{Name: "replica", Key: []string{"area", "id"}, Where: "x.area = '" + cfg.Source + "'"}},
	})
}
