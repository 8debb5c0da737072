package relay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
)

// benchEvents is the backlog both benchmarks copy into Redis per op.
const benchEvents = 50000

// benchEnv is an area whose log holds benchEvents events over 1,000 streams.
func benchEnv(b *testing.B) *env {
	b.Helper()
	e := newEnv(b)
	mustAppend(b, e.log, "bench", benchEvents, 1000, 8)
	return e
}

// BenchmarkRelay measures a relay copying a backlog of benchEvents events
// from the real log (PostgreSQL) into Redis, from Run to the last event's
// progress in memory; each op uses a fresh area name, so fresh streams and
// progress. Compare its events/s with BenchmarkRawXADD's.
func BenchmarkRelay(b *testing.B) {
	e := benchEnv(b)
	var elapsed time.Duration
	b.ResetTimer()
	for i := range b.N {
		cfg := e.config(b)
		cfg.Area = fmt.Sprintf("bench%d", i)
		r, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		started := time.Now()
		rr := start(r)
		tick := time.NewTicker(time.Millisecond)
		for r.Stats().Position < benchEvents {
			<-tick.C
		}
		elapsed += time.Since(started)
		tick.Stop()
		b.StopTimer()
		if err := rr.stop(b); err != nil {
			b.Fatal(err)
		}
		if st := r.Stats(); st.Errors != 0 {
			b.Fatalf("relay counted %d errors", st.Errors)
		}
		deleteStreams(b, e.rdb, e.ns, cfg.Area, cfg.Partitions)
		b.StartTimer()
	}
	b.ReportMetric(float64(benchEvents*b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkRawXADD measures the ceiling: the same entries, encoded
// beforehand, XADDed with explicit ids and the same trimming in pipelines
// of the relay's batch size, with no reading and no progress recording.
func BenchmarkRawXADD(b *testing.B) {
	e := benchEnv(b)
	evs := logEvents(b, e.log)
	const parts = 4
	type item struct {
		partition int
		args      redis.XAddArgs
	}
	items := make([]item, len(evs))
	last := make([]int64, parts)
	for i, ev := range evs {
		p := eventlog.Partition(ev.StreamID, parts)
		items[i] = item{p, redis.XAddArgs{ID: eventlog.EntryID(ev.Position), Values: eventlog.EncodeEntry(ev, last[p]), MaxLen: DefaultMaxLen, Approx: true}}
		last[p] = ev.Position
	}
	ctx := context.Background()
	var elapsed time.Duration
	b.ResetTimer()
	for i := range b.N {
		a := fmt.Sprintf("raw%d", i)
		keys := make([]string, parts)
		for p := range keys {
			keys[p] = eventlog.StreamKey(e.ns, a, p)
		}
		started := time.Now()
		for from := 0; from < len(items); from += DefaultBatchSize {
			pipe := e.rdb.Pipeline()
			for j := from; j < min(from+DefaultBatchSize, len(items)); j++ {
				args := items[j].args
				args.Stream = keys[items[j].partition]
				pipe.XAdd(ctx, &args)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(started)
		b.StopTimer()
		deleteStreams(b, e.rdb, e.ns, a, parts)
		b.StartTimer()
	}
	b.ReportMetric(float64(len(items)*b.N)/elapsed.Seconds(), "events/s")
}

func deleteStreams(b *testing.B, rdb redis.UniversalClient, ns, area string, parts int) {
	b.Helper()
	for p := range parts {
		if err := rdb.Del(context.Background(), eventlog.StreamKey(ns, area, p)).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
