package main

import (
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/projector"
)

// PostgreSQL connection budget. Each process kind sizes its pools by what
// it runs at once, so that the whole multi-process topology fits a stock
// server (max_connections 100); README.md ("Connections") and
// docs/scale.md have the tables. A pool that is exhausted makes the caller
// wait for a connection (pgxpool's Acquire), it never fails; connections
// idle for poolIdleTime are closed, so an idle process holds almost none.
// CRM_DB_MAX_CONNS replaces the size of every pool of the serving kinds
// (dev, service, projector, gateway).
const (
	// serviceReadConns serve a service's reads besides its log writer:
	// commands' stream and replica reads, GET /events, heads, lookups.
	serviceReadConns = 2
	// serviceLogConns is a service's main pool: the group-commit writer
	// (eventlog.WriterConns) plus the reads.
	serviceLogConns = eventlog.WriterConns + serviceReadConns
	// gatewayConns serve the gateway's queries. A request's statements run
	// a few at a time (the root field, then one batched statement per
	// relation, resolved concurrently); beyond this many statements at once
	// requests queue for a connection, which costs less than more backends
	// competing for the database's cores.
	gatewayConns = 8
	// relayConns: each relay (one per area, in its service or in dev)
	// holds a dedicated session outside every pool, for its advisory lock
	// and LISTEN.
	relayConns = 1
	// verifyConns per database: a verify holds one session for the model
	// it checks plus one while it creates the scratch tables; one more
	// where the source logs share that database.
	verifyConns = 2
	// migrateConns per database: the migration lock's session and one more.
	migrateConns = 2
	// rebuildConns: the rebuild's mark and lock session, and one apply
	// transaction per area it replays at once.
	rebuildConns = 1 + projector.RebuildParallel
	// devPoolCap caps each of crm dev's pools, where components sharing a
	// database share its pools: the sum of their needs is more than one
	// process on one machine can use at once.
	devPoolCap = 20
	// poolIdleTime closes a pooled connection unused this long; MinConns
	// stays 0, so an idle process keeps only what it used last.
	poolIdleTime = 30 * time.Second
	// poolHealthCheck is how often the pool looks for idle connections.
	poolHealthCheck = 10 * time.Second
)

// projectorConns is a projector process's pool: one connection per
// consumer (one per source area, feeding every projection of that area),
// since each applies one batch at a time; nothing else of the process
// holds one while waiting for another.
func projectorConns() int32 {
	areas := map[string]bool{}
	for _, p := range projector.All() {
		for _, a := range p.Sources() {
			areas[a] = true
		}
	}
	return int32(len(areas))
}

// serviceApplyConns is a service's consumer pool: one connection per
// consumer of another area (0 when it follows none).
func serviceApplyConns(area string) int32 { return int32(areaDefs[area].consumers) }

// poolBudget is one pool (or dedicated session) a process opens.
type poolBudget struct {
	Name string // application_name of its sessions
	Size int32
}

// processBudget lists the PostgreSQL sessions a process of kind may hold
// at most with cfg ("service" takes area), in the order it opens them:
// the pools with their sizes, then dedicated sessions. Its sum is what
// the process may take from the server.
func processBudget(cfg Config, kind, area string) []poolBudget {
	switch kind {
	case "service":
		b := []poolBudget{{"crm-" + area, cfg.poolSize(serviceLogConns)}}
		if n := serviceApplyConns(area); n > 0 {
			b = append(b, poolBudget{"crm-" + area + "-consumers", cfg.poolSize(n)})
		}
		return append(b, poolBudget{"crm-relay-" + area, relayConns})
	case "projector":
		return []poolBudget{{"crm-projector", cfg.poolSize(projectorConns())}}
	case "gateway":
		return []poolBudget{{"crm-gateway", cfg.poolSize(gatewayConns)}}
	case "verify":
		var b []poolBudget
		for _, u := range distinctURLs(cfg) {
			b = append(b, poolBudget{"crm-verify", verifySize(cfg, u)})
		}
		return b
	case "dev":
		var b []poolBudget
		for _, u := range distinctURLs(cfg) {
			if n := devLogSize(cfg, u); n > 0 {
				b = append(b, poolBudget{"crm-dev", n})
			}
			if n := devApplySize(cfg, u); n > 0 {
				b = append(b, poolBudget{"crm-dev-consumers", n})
			}
		}
		for _, a := range areas {
			b = append(b, poolBudget{"crm-relay-" + a, relayConns})
		}
		return b
	}
	panic("processBudget: unknown kind " + kind)
}

// budgetTotal sums a budget.
func budgetTotal(b []poolBudget) int32 {
	var n int32
	for _, p := range b {
		n += p.Size
	}
	return n
}

// distinctURLs lists the configured databases, each once, in component
// order (areas, then read).
func distinctURLs(cfg Config) []string {
	var out []string
	for _, c := range append(append([]string{}, areas...), readComponent) {
		if u := cfg.DatabaseURLs[c]; !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// sharing lists the components whose database is u.
func sharing(cfg Config, u string) []string {
	var out []string
	for _, c := range append(append([]string{}, areas...), readComponent) {
		if cfg.DatabaseURLs[c] == u {
			out = append(out, c)
		}
	}
	return out
}

// devLogSize is crm dev's main pool on database u: the needs of the
// services and the gateway whose database it is, capped.
func devLogSize(cfg Config, u string) int32 {
	var n int32
	for _, c := range sharing(cfg, u) {
		if c == readComponent {
			n += gatewayConns
		} else {
			n += serviceLogConns
		}
	}
	return cfg.poolSize(min(n, devPoolCap))
}

// devApplySize is crm dev's consumer pool on database u: the consumers of
// the services and the projector whose database it is, capped (0: none).
func devApplySize(cfg Config, u string) int32 {
	var n int32
	for _, c := range sharing(cfg, u) {
		if c == readComponent {
			n += projectorConns()
		} else {
			n += serviceApplyConns(c)
		}
	}
	if n == 0 {
		return 0
	}
	return cfg.poolSize(min(n, devPoolCap))
}

// verifySize is crm verify's pool on database u.
func verifySize(cfg Config, u string) int32 {
	if len(sharing(cfg, u)) > 1 {
		return verifyConns + 1
	}
	return verifyConns
}

// logBudget writes a process's budget to the log at start.
func logBudget(logger *slog.Logger, b []poolBudget) {
	args := []any{"max_sessions", budgetTotal(b)}
	for _, p := range b {
		args = append(args, p.Name, p.Size)
	}
	logger.Info("postgres connection budget", args...)
}

// tunePool applies the budget's settings to a pool configuration: at most
// size connections (0: pgx's default), none kept open while idle, and the
// process kind's application_name unless the URL sets one.
func tunePool(pcfg *pgxpool.Config, size int32, name string) {
	if size > 0 {
		pcfg.MaxConns = size
	}
	pcfg.MinConns = 0
	pcfg.MaxConnIdleTime = poolIdleTime
	pcfg.HealthCheckPeriod = poolHealthCheck
	rp := pcfg.ConnConfig.RuntimeParams
	if name != "" && rp["application_name"] == "" {
		if rp == nil {
			rp = map[string]string{}
			pcfg.ConnConfig.RuntimeParams = rp
		}
		rp["application_name"] = name
	}
}
