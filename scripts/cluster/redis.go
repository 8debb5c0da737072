package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"crm/eventlog/testenv"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a private redis-server on a spare loopback port that keeps
// nothing on disk: stopping it loses everything, as a crashed Redis without
// persistence would. The machine's shared Redis is never touched.
type RedisServer struct {
	Addr string
	proc *Proc
}

// StartRedis starts a private redis-server, logging into dir.
func StartRedis(dir string) (*RedisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (scripts/setup.sh installs it): %w", err)
	}
	addr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := splitHostPort(addr)
	s := &RedisServer{Addr: addr, proc: &Proc{
		Name: "redis-server", Path: path, Env: os.Environ(), LogPath: filepath.Join(dir, "redis.log"),
		Args: []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
			"--daemonize", "no", "--loglevel", "warning", "--dir", dir},
	}}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts the server (again, empty, on the same port) and waits until
// it answers PING.
func (s *RedisServer) Start() error {
	if err := s.proc.Start(); err != nil {
		return err
	}
	return s.proc.waitFor(10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return s.do(ctx, func(c *redis.Client) error { return c.Ping(ctx).Err() })
	})
}

// Stop kills the server; everything it held is gone.
func (s *RedisServer) Stop() { s.proc.Kill() }

// FlushAll empties the server (FLUSHALL) while it keeps running.
func (s *RedisServer) FlushAll(ctx context.Context) error {
	return s.do(ctx, func(c *redis.Client) error { return c.FlushAll(ctx).Err() })
}

// Pending lists, for every consumer group of every stream under ns, the
// entries delivered but not acknowledged ("stream group: n pending, first
// ID at CONSUMER"), for reports on a stuck consumer.
func (s *RedisServer) Pending(ctx context.Context, ns string) ([]string, error) {
	var out []string
	err := s.do(ctx, func(c *redis.Client) error {
		keys, err := c.Keys(ctx, ns+":events:*").Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			groups, err := c.XInfoGroups(ctx, k).Result()
			if err != nil {
				continue
			}
			for _, g := range groups {
				if g.Pending == 0 {
					continue
				}
				p, err := c.XPending(ctx, k, g.Name).Result()
				if err != nil {
					continue
				}
				var at []string
				for cons, n := range p.Consumers {
					at = append(at, fmt.Sprintf("%s(%d)", cons, n))
				}
				out = append(out, fmt.Sprintf("%s %s: %d pending, %s..%s at %v", k, g.Name, p.Count, p.Lower, p.Higher, at))
			}
		}
		return nil
	})
	return out, err
}

func (s *RedisServer) do(ctx context.Context, f func(*redis.Client) error) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, PoolSize: 1, MaxRetries: -1})
	defer c.Close()
	return f(c)
}
