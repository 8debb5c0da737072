package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"crm/eventlog"
	"crm/eventlog/ids"
)

// fault is one injected failure. run strikes while the load runs and
// returns when the system has been given back what it lost (a process
// restarted, Redis up again): recovered is that moment; converged, when
// not zero, is when the fault's own effect was observed (a parked poison
// event).
type fault struct {
	name   string
	poison int // poison events it injects
	run    func(ctx context.Context, s *suite) (recovered, converged time.Time, err error)
}

// killProjector kills one projector worker with SIGKILL while another
// keeps running, and starts it again after pause. The dead worker's
// partition leases expire (10 s) before the other workers take them.
func killProjector(pause time.Duration) fault {
	return fault{name: "kill -9 projector (1 of 2), restart", run: func(ctx context.Context, s *suite) (time.Time, time.Time, error) {
		p := s.c.Projectors[0]
		p.Kill()
		s.logf("killed %s; %d other projector(s) keep running", p.Name, len(s.c.Projectors)-1)
		sleep(ctx, pause)
		if err := s.c.StartProjector(p); err != nil {
			return time.Time{}, time.Time{}, err
		}
		return time.Now(), time.Time{}, nil
	}}
}

// killService kills an area's service with SIGKILL while a mutation of
// that area is in flight (an append may be on its way to PostgreSQL), and
// starts it again after pause on the same address.
func killService(area string, pause time.Duration) fault {
	return fault{name: "kill -9 service " + area + " mid-append, restart", run: func(ctx context.Context, s *suite) (time.Time, time.Time, error) {
		in := s.load.inflight[area]
		deadline := time.Now().Add(10 * time.Second)
		for in.Load() == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		svc := s.c.Services[area][0]
		inflight := in.Load()
		svc.Kill()
		s.logf("killed %s with %d %s mutation(s) in flight", svc.Name, inflight, area)
		sleep(ctx, pause)
		if err := s.c.StartService(svc); err != nil {
			return time.Time{}, time.Time{}, err
		}
		return time.Now(), time.Time{}, nil
	}}
}

// flushRedis empties Redis under the running system: streams, consumer
// groups, leases, relay progress, all gone at once.
func flushRedis() fault {
	return fault{name: "Redis FLUSHALL", run: func(ctx context.Context, s *suite) (time.Time, time.Time, error) {
		err := s.c.Redis.FlushAll(ctx)
		return time.Now(), time.Time{}, err
	}}
}

// restartRedis stops Redis for down, then starts it again empty.
func restartRedis(down time.Duration) fault {
	return fault{name: fmt.Sprintf("Redis stopped %v, restarted empty", down), run: func(ctx context.Context, s *suite) (time.Time, time.Time, error) {
		s.c.Redis.Stop()
		sleep(ctx, down)
		if err := s.c.Redis.Start(); err != nil {
			return time.Time{}, time.Time{}, err
		}
		return time.Now(), time.Time{}, nil
	}}
}

// terminateBackends ends every PostgreSQL session on one area's database,
// again and again for the window's length (pg_terminate_backend); the
// server and the other databases are untouched.
func terminateBackends(area string, window time.Duration) fault {
	return fault{name: "pg_terminate_backend " + area, run: func(ctx context.Context, s *suite) (time.Time, time.Time, error) {
		end := time.Now().Add(window)
		total := 0
		for time.Now().Before(end) && ctx.Err() == nil {
			n, err := s.c.TerminateBackends(ctx, area)
			if err != nil {
				return time.Time{}, time.Time{}, err
			}
			total += n
			sleep(ctx, 250*time.Millisecond)
		}
		s.logf("terminated %d sessions of %s in %v", total, area, window)
		return time.Now(), time.Time{}, nil
	}}
}

// poisonData is CampaignLaunched data the campaigns projection cannot
// decode (campaignId must be a string). Only that projection handles
// CampaignLaunched: the events projection stores any JSON, the customers
// projection and the relationships area ignore the type, so exactly one
// dead letter per injected event is expected, under read.campaigns.
var poisonData = json.RawMessage(`{"campaignId": 12345}`)

// poison appends n such events straight into the campaigns area's log
// (the eventlog append API, as the service's own writer would), each on a
// fresh stream no command touches, then waits until all are parked.
func poison(n int) fault {
	return fault{name: fmt.Sprintf("poison event x%d (campaigns projection)", n), poison: n,
		run: func(ctx context.Context, s *suite) (time.Time, time.Time, error) {
			pool, err := s.c.Pool(ctx, "campaigns", 2)
			if err != nil {
				return time.Time{}, time.Time{}, err
			}
			defer pool.Close()
			l, err := eventlog.Open(ctx, eventlog.Config{Pool: pool, Schema: "campaigns"})
			if err != nil {
				return time.Time{}, time.Time{}, err
			}
			for i := 0; i < n; i++ {
				_, err = l.Append(ctx, ids.New(ids.Campaign), eventlog.NoStream, eventlog.Metadata{CorrelationID: "chaos-poison-" + s.load.run},
					eventlog.NewEvent{Type: "CampaignLaunched", Data: poisonData})
				if err != nil {
					l.Close()
					return time.Time{}, time.Time{}, fmt.Errorf("append poison: %w", err)
				}
			}
			l.Close()
			recovered := time.Now()
			want := s.poisoned + n
			deadline := recovered.Add(90 * time.Second)
			for {
				dl, err := s.check.DeadLetters(ctx)
				if err == nil && dl[poisonConsumer] >= want {
					return recovered, time.Now(), nil
				}
				if time.Now().After(deadline) || ctx.Err() != nil {
					return recovered, time.Time{}, fmt.Errorf("poison not parked within 90s: dead letters %v, err %v", dl, err)
				}
				sleep(ctx, 100*time.Millisecond)
			}
		}}
}

// poisonConsumer is the consumer whose dead letters the poison fills.
const poisonConsumer = "read.campaigns"

// sleep waits d or until ctx ends: a fault's window, not a wait for a
// condition.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// defaultFaults is the suite's sequence: every fault of the issue, each
// area's service killed once in the full run (customers only in the
// short one).
func defaultFaults(o Options) []fault {
	fs := []fault{killProjector(o.ProjectorDown)}
	for _, a := range o.KillAreas {
		fs = append(fs, killService(a, time.Second))
	}
	return append(fs, flushRedis(), restartRedis(o.RedisDown), terminateBackends(o.TerminateArea, o.TerminateFor), poison(o.Poison))
}
