package main

import (
	"math"
	"runtime/debug"
)

// Garbage collector defaults for the processes that answer GraphQL (`crm
// gateway`, `crm dev`), used when the operator sets neither GOGC nor
// GOMEMLIMIT. A GraphQL response allocates a few hundred KB that die at
// once (gqlgen's field contexts, scanned rows), so Go's default GOGC=100
// spends about a quarter of a busy gateway's CPU on collection; GOGC=300
// halves that. The soft limit makes the collector work harder before a
// process grows past it, so the larger GOGC cannot run away. The other
// subcommands (services, projector, rebuild) keep Go's defaults: their
// memory, not their allocation rate, is what the benchmarks hold them to.
// docs/graphql.md ("Performance") has the measurements.
const (
	defaultGCPercent   = 300
	defaultMemoryLimit = 1 << 30 // 1 GiB, soft
)

// tuneGC applies the defaults above unless the environment sets its own.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
