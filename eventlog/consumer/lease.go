package consumer

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases: partition p of consumer name N on area A is owned by whoever holds
// the key "ns:lease:N:A:p" (SET NX PX LeaseTTL). Its holder renews it every
// LeaseTTL/3 with a compare-and-pexpire script and deletes it with a
// compare-and-delete script when it lets go, so it can never extend or drop
// a lease that has meanwhile passed to someone else. A holder that dies
// stops renewing and its lease expires.
//
// Fair spread: every consumer of N/A heartbeats into the sorted set
// "ns:consumers:N:A" (score: expiry time in ms). With n live members, a
// consumer holds at most ceil(partitions/n) leases and releases extras
// gracefully; members prefer different partitions (member i of n starts at
// i*partitions/n), so a newcomer gets exactly what an old member releases.

var (
	renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)
)

// worker is the manager's handle on one owned partition's goroutine.
type worker struct {
	p         int
	cancel    context.CancelFunc // hard stop: lease lost, crash, grace over
	stop      chan struct{}      // graceful stop: finish the batch in hand
	stopOnce  sync.Once
	done      chan struct{}
	releasing bool // no longer renewed; waiting for the goroutine to end
	renewedAt time.Time
}

func (w *worker) stopGracefully() { w.stopOnce.Do(func() { close(w.stop) }) }

// manager owns the lease bookkeeping; only Run's goroutine touches it.
type manager struct {
	c          *Consumer
	hard       context.Context
	cancelHard context.CancelFunc
	workers    map[int]*worker
	exited     chan int
	start      int // first partition this member prefers
}

func newManager(ctx context.Context, c *Consumer) *manager {
	// Workers must be able to finish the batch in hand after ctx is
	// cancelled, so their context only ends on crash or when the grace
	// period is over.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &manager{
		c:          c,
		hard:       hard,
		cancelHard: cancel,
		workers:    map[int]*worker{},
		exited:     make(chan int, c.cfg.Partitions),
	}
}

func (m *manager) run(ctx context.Context) error {
	defer m.cancelHard()
	ticker := time.NewTicker(max(m.c.cfg.LeaseTTL/3, time.Millisecond))
	defer ticker.Stop()
	m.tick()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case <-m.c.crashCh:
			m.cancelHard()
			m.waitAll()
			return nil
		case p := <-m.exited:
			delete(m.workers, p)
		case <-ticker.C:
			m.tick()
		}
	}
}

// shutdown stops every partition gracefully, bounded by LeaseTTL (after
// which another consumer may hold the lease anyway), and leaves the
// membership set so the others rebalance at once.
func (m *manager) shutdown() {
	for _, w := range m.workers {
		w.stopGracefully()
	}
	grace := time.AfterFunc(m.c.cfg.LeaseTTL, m.cancelHard)
	m.waitAll()
	grace.Stop()
	if m.c.noLease {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.c.cfg.Redis.ZRem(ctx, m.c.membersKey, m.c.cfg.ConsumerID).Err(); err != nil {
		m.c.log.Warn("consumer: leave membership", "err", err)
	}
}

func (m *manager) waitAll() {
	for _, w := range m.workers {
		<-w.done
	}
}

// tick heartbeats, renews the leases held and moves towards the fair share.
func (m *manager) tick() {
	now := time.Now()
	if m.c.noLease {
		for p := range m.c.cfg.Partitions {
			if _, ok := m.workers[p]; !ok {
				m.startWorker(p, now)
			}
		}
		return
	}
	ctx, cancel := context.WithTimeout(m.hard, m.c.cfg.LeaseTTL)
	defer cancel()
	members, err := m.heartbeat(ctx, now)
	m.renew(ctx, now)
	if err != nil {
		m.c.log.Warn("consumer: heartbeat failed; keeping current partitions", "err", err)
		return
	}
	m.rebalance(ctx, now, members)
}

// heartbeat records this consumer as live and returns the live members.
func (m *manager) heartbeat(ctx context.Context, now time.Time) ([]string, error) {
	rdb, key, ttl := m.c.cfg.Redis, m.c.membersKey, m.c.cfg.LeaseTTL
	var live *redis.StringSliceCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: m.c.cfg.ConsumerID})
		p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(now.UnixMilli(), 10))
		p.PExpire(ctx, key, 3*ttl)
		live = p.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf"})
		return nil
	})
	if err != nil {
		return nil, err
	}
	members := live.Val()
	slices.Sort(members)
	return members, nil
}

// renew extends the leases held. A lease found missing (expired, or Redis
// emptied) is taken again when free; one that cannot be renewed for a
// whole LeaseTTL, or that someone else holds, stops its partition at once.
func (m *manager) renew(ctx context.Context, now time.Time) {
	c := m.c
	ttlMS := c.cfg.LeaseTTL.Milliseconds()
	for _, w := range m.workers {
		if w.releasing {
			continue
		}
		key := c.leaseKey(w.p)
		n, err := renewScript.Run(ctx, c.cfg.Redis, []string{key}, c.cfg.ConsumerID, ttlMS).Int()
		if err == nil && n == 0 {
			var got bool
			got, err = c.cfg.Redis.SetNX(ctx, key, c.cfg.ConsumerID, c.cfg.LeaseTTL).Result()
			if err == nil && !got {
				c.log.Warn("consumer: lease lost to another consumer", "partition", w.p)
				m.drop(w)
				continue
			}
		}
		if err == nil {
			w.renewedAt = now
			continue
		}
		if now.Sub(w.renewedAt) >= c.cfg.LeaseTTL {
			c.log.Warn("consumer: lease not renewed in time; letting the partition go", "partition", w.p, "err", err)
			m.drop(w)
		}
	}
}

func (m *manager) drop(w *worker) {
	w.releasing = true
	w.cancel()
}

// rank orders partitions by this member's preference (0 = most preferred).
func (m *manager) rank(p int) int {
	n := m.c.cfg.Partitions
	return ((p-m.start)%n + n) % n
}

func (m *manager) rebalance(ctx context.Context, now time.Time, members []string) {
	c := m.c
	n := max(len(members), 1)
	if i := slices.Index(members, c.cfg.ConsumerID); i >= 0 {
		m.start = i * c.cfg.Partitions / n
	}
	fair := fairShare(c.cfg.Partitions, n)
	var active []int
	for p, w := range m.workers {
		if !w.releasing {
			active = append(active, p)
		}
	}
	if len(active) > fair {
		// Give up the least preferred ones: they are what the others prefer.
		slices.SortFunc(active, func(a, b int) int { return m.rank(b) - m.rank(a) })
		for _, p := range active[:len(active)-fair] {
			w := m.workers[p]
			w.releasing = true
			w.stopGracefully()
		}
		return
	}
	held := len(active)
	for k := 0; k < c.cfg.Partitions && held < fair; k++ {
		p := (m.start + k) % c.cfg.Partitions
		if _, ok := m.workers[p]; ok {
			continue
		}
		got, err := c.cfg.Redis.SetNX(ctx, c.leaseKey(p), c.cfg.ConsumerID, c.cfg.LeaseTTL).Result()
		if err != nil {
			c.log.Warn("consumer: acquire lease", "partition", p, "err", err)
			return
		}
		if got {
			m.startWorker(p, now)
			held++
		}
	}
}

// fairShare is the most partitions one of n live consumers may hold.
func fairShare(partitions, n int) int {
	return (partitions + n - 1) / max(n, 1)
}

func (m *manager) startWorker(p int, now time.Time) {
	ctx, cancel := context.WithCancel(m.hard)
	w := &worker{p: p, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{}), renewedAt: now}
	m.workers[p] = w
	pw := newPartWorker(ctx, m.c, p, w.stop)
	go func() {
		defer func() {
			cancel()
			close(w.done)
			m.exited <- p
		}()
		pw.run()
	}()
}

// releaseLease lets partition p go, unless the process is simulating a crash
// or never took leases.
func (c *Consumer) releaseLease(p int) {
	if c.noLease || c.crashed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := releaseScript.Run(ctx, c.cfg.Redis, []string{c.leaseKey(p)}, c.cfg.ConsumerID).Err(); err != nil {
		c.log.Warn("consumer: release lease", "partition", p, "err", err)
	}
}
