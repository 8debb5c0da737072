// Package testenv gives tests their own piece of the real PostgreSQL and
// Redis: a fresh schema (or database) and a fresh key namespace, removed when
// the test ends, so tests run in parallel without seeing each other.
//
// It reads CRM_TEST_DATABASE_URL (default: the local server, database
// crm_test, created when missing) and CRM_TEST_REDIS_URL (default
// redis://127.0.0.1:6379/0). Tests that need neither should not call it, so
// that `go test -short` can skip the ones that do.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Name returns a short random lower-case identifier with the given prefix,
// usable as a schema, database or namespace name.
func Name(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL/Redis; skipped with -short")
	}
}

// AdminURL is the URL of the server's maintenance database.
func AdminURL() string {
	if u := os.Getenv("CRM_TEST_ADMIN_URL"); u != "" {
		return u
	}
	return defaultAdminURL
}

var (
	testDBOnce sync.Once
	testDBURL  string
	testDBErr  error
)

// DatabaseURL returns the URL of the shared test database, creating it once.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	skipShort(t)
	testDBOnce.Do(func() {
		if u := os.Getenv("CRM_TEST_DATABASE_URL"); u != "" {
			testDBURL = u
			return
		}
		testDBURL, testDBErr = createDatabase(context.Background(), "crm_test", true)
	})
	if testDBErr != nil {
		t.Fatalf("test database: %v", testDBErr)
	}
	return testDBURL
}

// createDatabase creates a database on the admin server and returns its URL.
func createDatabase(ctx context.Context, name string, mayExist bool) (string, error) {
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", AdminURL(), err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if err != nil && !(mayExist && errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")) {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(AdminURL())
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Database creates a fresh database for this test, dropped at cleanup, and
// returns its URL. Prefer Schema; use this where a component must own a
// whole database.
func Database(t testing.TB) string {
	t.Helper()
	skipShort(t)
	name := Name("crmt")
	u, err := createDatabase(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return u
}

// Pool opens a pool on url, closed at cleanup.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Schema creates a fresh schema in the shared test database, dropped with
// everything in it at cleanup, and returns a pool on that database and the
// schema's name.
func Schema(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool := Pool(t, DatabaseURL(t))
	name := Name("t")
	if _, err := pool.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", name, err)
		}
	})
	return pool, name
}

// RedisURL is the shared Redis server tests use.
func RedisURL() string {
	if u := os.Getenv("CRM_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Redis returns a client on the shared Redis and a fresh namespace; every key
// under "namespace:" is deleted at cleanup. Never FLUSHALL the shared server:
// use PrivateRedis for that.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	skipShort(t)
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	ns := Name("crmt")
	t.Cleanup(func() {
		DeleteNamespace(context.Background(), rdb, ns)
		rdb.Close()
	})
	return rdb, ns
}

// DeleteNamespace deletes every key under "ns:".
func DeleteNamespace(ctx context.Context, rdb *redis.Client, ns string) {
	iter := rdb.Scan(ctx, 0, ns+":*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			rdb.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

// RedisServer is a private redis-server process, for tests that flush,
// stop or restart Redis without touching the shared one.
type RedisServer struct {
	Addr string
	port int
	cmd  *exec.Cmd
	t    testing.TB
}

// PrivateRedis starts a redis-server on a spare loopback port, keeping
// nothing on disk, stopped at cleanup.
func PrivateRedis(t testing.TB) *RedisServer {
	t.Helper()
	skipShort(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found (scripts/setup.sh installs it): %v", err)
	}
	s := &RedisServer{port: freePort(t), t: t}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.port)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts the server (again, empty) and waits until it answers.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			_, werr := c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, rerr := c.Read(buf)
			c.Close()
			if werr == nil && rerr == nil && strings.HasPrefix(string(buf[:n]), "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server; everything in it is gone.
func (s *RedisServer) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func freePort(t testing.TB) int {
	t.Helper()
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}

// FreeAddr returns a loopback address with a port free at the moment, for
// a server a test or harness starts (and may restart) on it. The port is
// below the kernel's ephemeral range (net.ipv4.ip_local_port_range): one
// of that range, which is what listening on port 0 hands out, can be taken
// meanwhile by any outgoing connection (another process's pooled
// PostgreSQL or Redis client) as its local port, and the server started or
// restarted on it later finds it in use (a scale run once saw a service
// restart five times on "address already in use").
func FreeAddr() (string, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 10000
	if low <= from+1000 {
		return "", fmt.Errorf("ephemeral ports start at %d: no room below them for listeners", low)
	}
	for range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(from+mrand.IntN(low-from)))
		if err != nil {
			continue // taken
		}
		defer ln.Close()
		return ln.Addr().String(), nil
	}
	return "", fmt.Errorf("no free port below %d on 127.0.0.1", low)
}

// Eventually calls cond until it returns nil or the deadline passes, then
// fails the test with cond's last error.
func Eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", within, err)
		}
		time.Sleep(wait)
		if wait < 200*time.Millisecond {
			wait *= 2
		}
	}
}
