package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/svcauth"
	"crm/scripts/cluster"
)

// child is a crm process whose resident memory the benchmark watches: a
// sampler reads VmHWM (the kernel's peak resident set) and VmRSS from
// /proc/PID/status every 50 ms, and the peak is also taken from wait4's
// ru_maxrss once it has exited, so a peak in its last moments is not missed.
type child struct {
	name  string
	cmd   *exec.Cmd
	log   string
	start time.Time
	done  chan struct{}

	mu       sync.Mutex
	hwm, rss int64 // bytes, last sampled
	cpuTicks int64 // utime+stime in clock ticks, last sampled
	peakAt   time.Duration
}

// serviceKey is this run's CRM_SERVICE_KEY, given to every crm process it
// starts (before their own env, which may override it).
var serviceKey = svcauth.NewSecret()

// baseEnv is this process's environment with the run's service key.
func baseEnv() []string {
	return append(os.Environ(), "CRM_SERVICE_KEY="+serviceKey)
}

// startChild runs bin args with env added to this process's environment,
// its output going to dir/name.log.
func startChild(bin, dir, name string, env []string, args ...string) (*child, error) {
	c := &child{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(c.log)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = append(baseEnv(), env...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	c.start = time.Now()
	if err := c.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start crm %s: %w", name, err)
	}
	go func() { c.cmd.Wait(); f.Close(); close(c.done) }()
	go c.sample()
	return c, nil
}

func (c *child) sample() {
	path := fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid)
	statPath := fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(statPath); err == nil {
			if ticks := statTicks(b); ticks > 0 {
				c.mu.Lock()
				c.cpuTicks = ticks
				c.mu.Unlock()
			}
		}
		if b, err := os.ReadFile(path); err == nil {
			hwm, rss := statusKB(b, "VmHWM:"), statusKB(b, "VmRSS:")
			c.mu.Lock()
			if hwm*1024 > c.hwm {
				c.hwm, c.peakAt = hwm*1024, time.Since(c.start)
			}
			if rss > 0 {
				c.rss = rss * 1024
			}
			c.mu.Unlock()
		}
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// statTicks is utime+stime of a /proc/PID/stat text, in clock ticks.
func statTicks(stat []byte) int64 {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // from field 3 (state) on
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat times.
const clockTick = 10 * time.Millisecond

// cpu is the processor time (user and system) the process has used so far.
func (c *child) cpu() time.Duration {
	select {
	case <-c.done:
		return c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime()
	default:
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid)); err == nil {
		if ticks := statTicks(b); ticks > 0 {
			return time.Duration(ticks) * clockTick
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.cpuTicks) * clockTick
}

// statusKB is the kB value of field in a /proc/PID/status text, 0 if absent.
func statusKB(status []byte, field string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// peak is the highest resident memory seen so far, in bytes: the last
// VmHWM sampled (the kernel's own high-water mark of the process). Not the
// exited process's ru_maxrss: Linux carries into it, at exec, the
// high-water mark of the address space it replaced, which for a child
// started by os/exec (vfork-style, sharing this process's memory until the
// exec) is this benchmark process's own peak.
func (c *child) peak() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hwm
}

// resident is the last sampled VmRSS, in bytes.
func (c *child) resident() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rss
}

// wait waits for the process to end and fails when it failed, with the end
// of its log.
func (c *child) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		c.stop()
		return ctx.Err()
	case <-c.done:
	}
	if !c.cmd.ProcessState.Success() {
		return fmt.Errorf("crm %s: %s: %s", c.name, c.cmd.ProcessState, c.tail())
	}
	return nil
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGINT and kills the process if it has not ended within 10 s.
func (c *child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// tooManyClients reports whether the process's log shows PostgreSQL
// refusing a connection for want of slots (53300): other work on this
// server's 100 connections, not a failure of what is measured.
func (c *child) tooManyClients() bool {
	b, _ := os.ReadFile(c.log)
	return cluster.TooManyClients(string(b))
}

// startSettled starts a long-running process and gives it settle to open
// its connections; when it exits meanwhile for want of PostgreSQL
// connections it is started again (up to 5 times, 5 s apart).
func startSettled(ctx context.Context, bin, dir, name string, env []string, settle time.Duration, args ...string) (*child, error) {
	for attempt := 1; ; attempt++ {
		c, err := startChild(bin, dir, name, env, args...)
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(settle):
			return c, nil
		case <-c.done:
		}
		if !c.tooManyClients() || attempt >= 5 {
			return nil, fmt.Errorf("crm %s exited at start: %s", name, c.tail())
		}
		fmt.Fprintf(os.Stderr, "bench: crm %s: PostgreSQL has no free connection; starting it again in 5 s\n", name)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

// tail is the end of the process's log, for error messages.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// mib formats bytes as MB (MiB).
func mib(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// processBench is what a section that runs crm processes against a
// database of its own starts from: the crm binary, the directory for the
// processes' logs, and the database with every area's log migrated and a
// small pool on it.
type processBench struct {
	bin, dir string // dir: o.logDir, else a temporary directory
	dbURL    string
	pool     *pgxpool.Pool
	cleanup  []func() // run in reverse order by close
}

// startProcessBench releases the earlier sections' pools, builds crm into
// a temporary directory named after name, creates the database
// <bench db><suffix> (see benchDatabase) and opens a pool of conns
// connections on it. The caller closes it, which drops the database.
func startProcessBench(ctx context.Context, o options, e *env, name, suffix string, conns int32) (_ *processBench, err error) {
	releasePools(e)
	b := &processBench{}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	tmp, err := os.MkdirTemp("", "crm-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	b.cleanup = append(b.cleanup, func() { os.RemoveAll(tmp) })
	if b.bin, err = cluster.Build(ctx, tmp); err != nil {
		return nil, err
	}
	b.dir = tmp
	if o.logDir != "" {
		b.dir = o.logDir
	}
	dbURL, drop, err := benchDatabase(ctx, e, suffix)
	if err != nil {
		return nil, err
	}
	b.cleanup = append(b.cleanup, drop)
	b.dbURL = dbURL
	if b.pool, err = smallPool(ctx, dbURL, conns); err != nil {
		return nil, err
	}
	b.cleanup = append(b.cleanup, b.pool.Close)
	for area := range genAreas {
		if err := eventlog.Migrate(ctx, b.pool, area); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// close closes the pool, drops the database and removes the temporary
// directory.
func (b *processBench) close() {
	for i := len(b.cleanup) - 1; i >= 0; i-- {
		b.cleanup[i]()
	}
}

// releasePools closes the earlier sections' pools, which hold their
// connections open: PostgreSQL here allows 100 connections in all.
func releasePools(e *env) {
	for _, p := range e.pools {
		p.Close()
	}
	e.pools = nil
}
