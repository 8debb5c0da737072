package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
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
	conn, err := pgx.Connect(ctx, o.adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", o.adminURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+e.dbName); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(o.adminURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + e.dbName
	e.dbURL = u.String()
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
	if conn, err := pgx.Connect(ctx, e.adminURL); err == nil {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+e.dbName+" WITH (FORCE)")
		conn.Close(ctx)
	}
}
