package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/relay"
)

// benchRelay fills a log with relayN events, then times the relay copying
// them into Redis, beside pipelined raw XADDs of the same entries.
func benchRelay(ctx context.Context, o options, e *env, rep *report) error {
	pool, err := e.pool(ctx, 8)
	if err != nil {
		return err
	}
	const schema = "bench_relay"
	if err := eventlog.Migrate(ctx, pool, schema); err != nil {
		return err
	}
	n := o.relayN
	// Fill the log directly, in big batches: this is setup, not measured.
	if _, err := pool.Exec(ctx, `INSERT INTO `+schema+`.events (position, event_id, stream_id, version, type, data, metadata, recorded_at)
		SELECT g, gen_random_uuid(), 'cus-' || (g % 5000), g / 5000 + 1, 'CustomerRegistered', $2::jsonb, '{"correlationId":"bench"}', now()
		FROM generate_series(1, $1::bigint) g`, n, payload); err != nil {
		return fmt.Errorf("fill log: %w", err)
	}
	log, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: schema})
	if err != nil {
		return err
	}
	defer log.Close()

	// Raw baseline: the same entries, pipelined XADD in batches of 1000.
	evs, err := log.ReadLog(ctx, 0, eventlog.MaxReadLimit)
	if err != nil {
		return err
	}
	start := time.Now()
	for sent := 0; sent < n; {
		pipe := e.rdb.Pipeline()
		for i := 0; i < 1000 && sent < n; i++ {
			ev := evs[sent%len(evs)]
			ev.Position = int64(sent + 1)
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: e.ns + ":raw", ID: eventlog.EntryID(ev.Position), Values: eventlog.EncodeEntry(ev, 0)})
			sent++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("raw xadd: %w", err)
		}
	}
	rawD := time.Since(start)

	r, err := relay.New(relay.Config{Pool: pool, Schema: schema, Area: "bench", Source: log, Redis: e.rdb,
		Namespace: e.ns, MaxLen: relay.NoTrim})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start = time.Now()
	go func() { done <- r.Run(rctx) }()
	for r.Stats().Position < int64(n) {
		select {
		case err := <-done:
			cancel()
			return fmt.Errorf("relay stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	relayD := time.Since(start)
	cancel()
	<-done

	rawRate := float64(n) / rawD.Seconds()
	relayRate := float64(n) / relayD.Seconds()
	rep.add(section{
		title: "Relay: log into Redis Streams vs raw XADD",
		note: fmt.Sprintf("%d events already in the log; the relay reads them in log order, partitions them (8 streams) and pipelines XADDs, recording progress per batch. "+
			"The raw baseline pipelines XADDs of the same entries (batches of 1000) into one stream. Target: at least 0.5x.", n),
		header: []string{"raw XADD events/s", "relay events/s", "ratio"},
		rows:   [][]string{{fmt.Sprintf("%.0f/s", rawRate), fmt.Sprintf("%.0f/s", relayRate), ratio(relayRate, rawRate)}},
	})
	return nil
}
