package consumer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases: every consumer of name N on area A heartbeats into the sorted set
// "ns:consumers:N:A" (score: its expiry time in ms, now + LeaseTTL); the
// hash "ns:leases:N:A" maps each partition to the consumer id that owns
// it. An owner's lease lasts as long as its heartbeat: a partition whose
// owner is no longer a live member may be taken by another (a script
// checks and sets the field atomically), so a dead owner's partitions move
// after at most LeaseTTL. Every LeaseTTL/3 a consumer runs one script that
// heartbeats, reads the owners of the partitions it holds (a field found
// missing means Redis lost its data: it is taken back and the partition
// catches up from the log; a field naming someone else means the lease was
// lost) and returns the live members: three Redis commands inside one
// round trip, whatever the number of partitions. Letting go deletes the
// field only if it is still this consumer's.
//
// Fair spread: with n live members, a consumer holds at most
// ceil(partitions/n) leases and releases extras gracefully; members prefer
// different partitions (member i of n starts at i*partitions/n), so a
// newcomer gets exactly what an old member releases.

var (
	// tickScript: KEYS members set, owners hash; ARGV id, now (ms), ttl
	// (ms), refresh ("1": also renew both keys' expiry), then the
	// partitions held. Returns {status per partition (1 held, 2 was
	// missing and is taken again, 0 owned by another), live members}.
	tickScript = redis.NewScript(`
local id, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call("ZADD", KEYS[1], now + ttl, id)
if ARGV[4] == "1" then
  redis.call("PEXPIRE", KEYS[1], 3 * ttl)
  redis.call("PEXPIRE", KEYS[2], 3 * ttl)
end
local st = {}
if #ARGV > 4 then
  local owners = redis.call("HMGET", KEYS[2], unpack(ARGV, 5))
  for i = 5, #ARGV do
    local o = owners[i - 4]
    if o == id then
      st[#st + 1] = 1
    elseif not o then
      redis.call("HSET", KEYS[2], ARGV[i], id)
      st[#st + 1] = 2
    else
      st[#st + 1] = 0
    end
  end
end
return {st, redis.call("ZRANGEBYSCORE", KEYS[1], now, "+inf")}`)
	// acquireScript: KEYS members, owners; ARGV id, now, ttl, partition.
	// Takes the partition when it has no live owner; drops dead members.
	acquireScript = redis.NewScript(`
local id, now = ARGV[1], tonumber(ARGV[2])
local o = redis.call("HGET", KEYS[2], ARGV[4])
if o and o ~= id then
  local s = redis.call("ZSCORE", KEYS[1], o)
  if s and tonumber(s) >= now then
    return 0
  end
end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. now)
redis.call("HSET", KEYS[2], ARGV[4], id)
redis.call("PEXPIRE", KEYS[2], 3 * tonumber(ARGV[3]))
return 1`)
	releaseScript = redis.NewScript(`if redis.call("HGET", KEYS[1], ARGV[2]) == ARGV[1] then
  return redis.call("HDEL", KEYS[1], ARGV[2])
end
return 0`)
)

// lease is one partition lease this consumer holds.
type lease struct {
	renewedAt time.Time
	releasing bool // no longer renewed; waiting for the loop to let go
}

// manager owns the leases and tells the loop which partitions to follow.
type manager struct {
	c          *Consumer
	hard       context.Context
	cancelHard context.CancelFunc
	rd         *blockingReader
	start      int // first partition this member prefers

	mu      sync.Mutex
	held    map[int]*lease
	recheck map[int]bool // leases found gone: catch up
	// changed wakes the loop when ownership changes (capacity 1).
	changed chan struct{}
	ticks   int
}

func newManager(ctx context.Context, c *Consumer) *manager {
	// The loop must be able to finish the batch in hand after ctx is
	// cancelled, so its context only ends on crash or when the grace
	// period is over.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &manager{
		c:          c,
		hard:       hard,
		cancelHard: cancel,
		rd:         &blockingReader{rdb: c.cfg.Redis},
		held:       map[int]*lease{},
		recheck:    map[int]bool{},
		changed:    make(chan struct{}, 1),
	}
}

func (m *manager) run(ctx context.Context) error {
	defer m.cancelHard()
	stop := make(chan struct{})
	l := &loop{c: m.c, m: m, ctx: m.hard, stop: stop, parts: map[int]*part{}, rd: m.rd, idleRelayed: -1}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run()
	}()
	ticker := time.NewTicker(max(m.c.cfg.LeaseTTL/3, time.Millisecond))
	defer ticker.Stop()
	m.tick()
	for {
		select {
		case <-ctx.Done():
			// Let the loop finish the batch in hand, bounded by LeaseTTL
			// (after which another consumer may hold the leases anyway),
			// then leave the membership set so the others rebalance at once.
			close(stop)
			m.signal()
			grace := time.AfterFunc(m.c.cfg.LeaseTTL, m.cancelHard)
			<-done
			grace.Stop()
			m.leave()
			return nil
		case <-m.c.crashCh:
			m.cancelHard()
			m.signal()
			<-done
			return nil
		case <-ticker.C:
			m.tick()
		}
	}
}

func (m *manager) leave() {
	if m.c.noLease {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.c.cfg.Redis.ZRem(ctx, m.c.membersKey, m.c.cfg.ConsumerID).Err(); err != nil {
		m.c.log.Warn("consumer: leave membership", "err", err)
	}
}

// signal wakes the loop: its blocking read is interrupted (twice, in case
// the first came just before the read started).
func (m *manager) signal() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
	m.rd.interrupt()
	time.AfterFunc(20*time.Millisecond, m.rd.interrupt)
}

// ownership is what the loop should follow, and the partitions whose lease
// was found gone since the last call.
func (m *manager) ownership() (want, recheck map[int]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want = make(map[int]bool, len(m.held))
	for p, ls := range m.held {
		if !ls.releasing {
			want[p] = true
		}
	}
	recheck, m.recheck = m.recheck, map[int]bool{}
	return want, recheck
}

// released is the loop saying it has let go of p.
func (m *manager) released(p int) {
	m.mu.Lock()
	delete(m.held, p)
	m.mu.Unlock()
	m.c.releaseLease(p)
}

// tick heartbeats, renews the leases held and moves towards the fair share.
func (m *manager) tick() {
	now := time.Now()
	c := m.c
	if c.noLease {
		m.mu.Lock()
		for p := range c.cfg.Partitions {
			if m.held[p] == nil {
				m.held[p] = &lease{renewedAt: now}
			}
		}
		m.mu.Unlock()
		m.signal()
		return
	}
	ctx, cancel := context.WithTimeout(m.hard, c.cfg.LeaseTTL)
	defer cancel()
	m.mu.Lock()
	var ps []int
	for p, ls := range m.held {
		if !ls.releasing {
			ps = append(ps, p)
		}
	}
	m.mu.Unlock()
	slices.Sort(ps)
	refresh := "0"
	if m.ticks%10 == 0 {
		refresh = "1"
	}
	m.ticks++
	args := []any{c.cfg.ConsumerID, now.UnixMilli(), c.cfg.LeaseTTL.Milliseconds(), refresh}
	for _, p := range ps {
		args = append(args, p)
	}
	res, err := tickScript.Run(ctx, c.cfg.Redis, []string{c.membersKey, c.leasesKey()}, args...).Slice()
	var members []string
	if err == nil {
		members, err = m.renewed(now, ps, res)
	}
	if err != nil {
		c.log.Warn("consumer: lease renewal failed; keeping current partitions", "err", err)
		m.expire(now)
		return
	}
	m.rebalance(ctx, now, members)
}

// renewed applies the tick script's answer and returns the live members.
func (m *manager) renewed(now time.Time, ps []int, res []any) ([]string, error) {
	if len(res) != 2 {
		return nil, fmt.Errorf("lease script: unexpected reply %v", res)
	}
	st, _ := res[0].([]any)
	if len(st) != len(ps) {
		return nil, fmt.Errorf("lease script: %d statuses for %d leases", len(st), len(ps))
	}
	changed := false
	m.mu.Lock()
	for i, p := range ps {
		ls := m.held[p]
		if ls == nil {
			continue
		}
		switch v, _ := st[i].(int64); v {
		case 1:
			ls.renewedAt = now
		case 2:
			ls.renewedAt = now
			m.recheck[p] = true
			changed = true
			m.c.log.Warn("consumer: lease was gone (Redis emptied?); taken again, catching up from the log", "partition", p)
		default:
			m.c.log.Warn("consumer: lease lost to another consumer", "partition", p)
			ls.releasing = true
			changed = true
		}
	}
	m.mu.Unlock()
	if changed {
		m.signal()
	}
	raw, _ := res[1].([]any)
	members := make([]string, 0, len(raw))
	for _, v := range raw {
		if s, ok := v.(string); ok {
			members = append(members, s)
		}
	}
	slices.Sort(members)
	return members, nil
}

// expire lets go of leases not renewed for a whole LeaseTTL.
func (m *manager) expire(now time.Time) {
	changed := false
	m.mu.Lock()
	for p, ls := range m.held {
		if !ls.releasing && now.Sub(ls.renewedAt) >= m.c.cfg.LeaseTTL {
			m.c.log.Warn("consumer: lease not renewed in time; letting the partition go", "partition", p)
			ls.releasing, changed = true, true
		}
	}
	m.mu.Unlock()
	if changed {
		m.signal()
	}
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
	m.mu.Lock()
	var active []int
	for p, ls := range m.held {
		if !ls.releasing {
			active = append(active, p)
		}
	}
	var free []int
	for k := 0; k < c.cfg.Partitions; k++ {
		p := (m.start + k) % c.cfg.Partitions
		if m.held[p] == nil {
			free = append(free, p)
		}
	}
	if len(active) > fair {
		// Give up the least preferred ones: they are what the others prefer.
		slices.SortFunc(active, func(a, b int) int { return m.rank(b) - m.rank(a) })
		for _, p := range active[:len(active)-fair] {
			m.held[p].releasing = true
		}
		m.mu.Unlock()
		m.signal()
		return
	}
	m.mu.Unlock()
	held, got := len(active), false
	for _, p := range free {
		if held >= fair {
			break
		}
		ok, err := acquireScript.Run(ctx, c.cfg.Redis, []string{c.membersKey, c.leasesKey()},
			c.cfg.ConsumerID, now.UnixMilli(), c.cfg.LeaseTTL.Milliseconds(), p).Bool()
		if err != nil {
			c.log.Warn("consumer: acquire lease", "partition", p, "err", err)
			break
		}
		if ok {
			m.mu.Lock()
			m.held[p] = &lease{renewedAt: now}
			m.mu.Unlock()
			held++
			got = true
		}
	}
	if got {
		m.signal()
	}
}

// fairShare is the most partitions one of n live consumers may hold.
func fairShare(partitions, n int) int {
	return (partitions + n - 1) / max(n, 1)
}

// releaseLease lets partition p go, unless the process is simulating a crash
// or never took leases.
func (c *Consumer) releaseLease(p int) {
	if c.noLease || c.crashed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := releaseScript.Run(ctx, c.cfg.Redis, []string{c.leasesKey()}, c.cfg.ConsumerID, p).Err(); err != nil {
		c.log.Warn("consumer: release lease", "partition", p, "err", err)
	}
}
