// Package dbcalls counts the calls a process makes to its data stores, as
// Prometheus counters: statements and round trips to PostgreSQL (a pgx
// tracer) and commands to Redis (a go-redis hook). The counts are the
// client's view, exact per process, whoever else shares the servers; they
// say what one request, event or idle second costs (docs/benchmarks.md).
//
// Metrics:
//
//	crm_db_statements_total{database, kind}  each Query, QueryRow and Exec, each statement of a batch, each CopyFrom
//	crm_db_batches_total{database}           SendBatch calls
//	crm_db_pings_total{database}             pgxpool's pings of connections that were idle (TracePool)
//	crm_db_round_trips_total{database}       Query/QueryRow/Exec, SendBatch and CopyFrom calls, and those pings
//	crm_redis_commands_total{cmd}            each command, alone, in a pipeline or in MULTI/EXEC (MULTI and EXEC included)
//	crm_redis_round_trips_total              commands sent alone, and pipelines
package dbcalls

import "github.com/prometheus/client_golang/prometheus"

// Counters holds one process's counts. It is a prometheus.Collector: register
// it on every registry that serves them (it may be on several). TracePool,
// Tracer and RedisHook feed it; all its methods are safe for concurrent use.
type Counters struct {
	statements *prometheus.CounterVec
	batches    *prometheus.CounterVec
	pgTrips    *prometheus.CounterVec
	pings      *prometheus.CounterVec
	commands   *prometheus.CounterVec
	redisTrips prometheus.Counter
	collectors []prometheus.Collector
}

// New returns counters at zero.
func New() *Counters {
	c := &Counters{
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_db_statements_total",
			Help: "SQL statements sent to PostgreSQL (each query, each statement of a batch, each COPY), by database and first keyword."},
			[]string{"database", "kind"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_db_batches_total",
			Help: "Batches sent to PostgreSQL (pgx SendBatch: its statements pipelined in one round trip), by database."},
			[]string{"database"}),
		pgTrips: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_db_round_trips_total",
			Help: "Round trips to PostgreSQL (queries, batches, COPYs and pool pings), by database."},
			[]string{"database"}),
		pings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_db_pings_total",
			Help: "Pings pgxpool sent before handing out a connection that had been idle, by database."},
			[]string{"database"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_redis_commands_total",
			Help: "Commands sent to Redis (alone, pipelined or in MULTI/EXEC), by command name."},
			[]string{"cmd"}),
		redisTrips: prometheus.NewCounter(prometheus.CounterOpts{Name: "crm_redis_round_trips_total",
			Help: "Round trips to Redis: commands sent alone, and pipelines."}),
	}
	c.collectors = []prometheus.Collector{c.statements, c.batches, c.pgTrips, c.pings, c.commands, c.redisTrips}
	return c
}

// Describe implements prometheus.Collector.
func (c *Counters) Describe(ch chan<- *prometheus.Desc) {
	for _, col := range c.collectors {
		col.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Counters) Collect(ch chan<- prometheus.Metric) {
	for _, col := range c.collectors {
		col.Collect(ch)
	}
}
