package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/projector"
	"crm/services/kit"
)

// migration brings one component's tables up to date in its schema.
type migration struct {
	component string // also its schema's name
	apply     func(ctx context.Context, pool *pgxpool.Pool, schema string) error
}

// migrations lists every component's migrations, in order: each area's
// log, relay progress, consumer checkpoints, replica and own tables.
func migrations() []migration {
	var ms []migration
	for _, area := range areas {
		own := areaDefs[area].own
		ms = append(ms, migration{component: area, apply: func(ctx context.Context, pool *pgxpool.Pool, schema string) error {
			return kit.MigrateArea(ctx, pool, schema, own)
		}})
	}
	ms = append(ms, migration{component: readComponent, apply: func(ctx context.Context, pool *pgxpool.Pool, schema string) error {
		return projector.Migrate(ctx, pool, schema, projector.All()...)
	}})
	return ms
}

// migrate applies every component's migrations to its configured database,
// creating the database when missing. Components sharing a database share
// one pool and keep to their own schemas. Idempotent, and safe from several
// processes at once (each component's migrator takes an advisory lock).
func migrate(ctx context.Context, cfg Config, logger *slog.Logger) error {
	pools := newPoolSet(cfg.DatabaseURLs, func(u string) (*pgxpool.Pool, error) { return openPool(ctx, u, migrateConns, "crm-migrate") })
	defer pools.close()
	for _, m := range migrations() {
		dbURL := cfg.DatabaseURLs[m.component]
		pool, err := pools.get(m.component)
		if err != nil {
			return err
		}
		if err := m.apply(ctx, pool, m.component); err != nil {
			return fmt.Errorf("%s: %w", m.component, err)
		}
		logger.Info("migrated", "component", m.component, "schema", m.component, "database", redactURL(dbURL))
	}
	return nil
}
