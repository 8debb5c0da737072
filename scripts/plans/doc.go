// Package plans holds a test, no code: TestGenericPlansUseIndexes fills
// every table a hot statement touches to 100k rows, captures the
// statements the real code sends (projector and consumers through a live
// projector.Runner, the gateway's read store, the event log, replicas),
// adds those only reachable from inside a package (listed), and fails when
// the generic plan of any of them (plan_cache_mode = force_generic_plan,
// what a prepared statement falls back to after five executions) scans a
// filled table sequentially. docs/plans.md has the findings.
package plans
