package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/scripts/cluster"
)

// env is the benchmark's private database and Redis namespace.
type env struct {
	adminURL string
	dbName   string
	dbURL    string
	rdb      *redis.Client
	ns       string
	pools    []*pgxpool.Pool
}

func newEnv(ctx context.Context, o options) (*env, error) {
	var b [4]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	e := &env{adminURL: o.adminURL, dbName: "crm_bench_" + suffix, ns: "crmbench_" + suffix}
	var err error
	if e.dbURL, err = cluster.CreateDatabase(ctx, o.adminURL, e.dbName); err != nil {
		return nil, err
	}
	opt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, err
	}
	opt.PoolSize = 64
	e.rdb = redis.NewClient(opt)
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		e.close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return e, nil
}

// pool opens a pool of at most n connections on the bench database.
func (e *env) pool(ctx context.Context, n int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(e.dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = n
	cfg.MinConns = n
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.pools = append(e.pools, p)
	return p, nil
}

func (e *env) close() {
	ctx := context.Background()
	for _, p := range e.pools {
		p.Close()
	}
	if e.rdb != nil {
		iter := e.rdb.Scan(ctx, 0, e.ns+":*", 1000).Iterator()
		for iter.Next(ctx) {
			e.rdb.Del(ctx, iter.Val())
		}
		e.rdb.Close()
	}
	cluster.DropDatabases(ctx, e.adminURL, []string{e.dbName})
}
