package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process the harness may start, kill and start again
// (same arguments, same environment, same log file). Each start runs in a
// process group of its own, so a kill also ends anything the child started,
// and the child is sent SIGKILL if the harness process dies first.
type Proc struct {
	// Name labels the process in logs and errors ("service customers").
	Name string
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Env is the whole environment of the child.
	Env []string
	// LogPath receives the child's stdout and stderr, appended over restarts.
	LogPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // exit status of the last run, once done is closed
	stopped bool  // ended by Kill or Stop, not by itself
}

// Start runs the process. It fails if it is already running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s: already running", p.Name)
		}
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: log: %w", p.Name, err)
	}
	fmt.Fprintf(f, "---- %s: start %s %v\n", time.Now().Format(time.RFC3339Nano), p.Path, p.Args)
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.stopped = cmd, done, false
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Running reports whether the last start is still running.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the process id of the last start (0 if never started).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited returns the exit error of the last run once it has ended
// (nil, false while it runs or before any start).
func (p *Proc) Exited() (error, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, false
	}
	select {
	case <-p.done:
		return p.err, true
	default:
		return nil, false
	}
}

// Stopped reports whether the last run was ended by Kill or Stop.
func (p *Proc) Stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// Kill sends SIGKILL to the process group (kill -9: no shutdown at all)
// and waits until the process is reaped. A stopped process is left alone.
func (p *Proc) Kill() {
	p.signal(syscall.SIGKILL, 0)
}

// Stop sends SIGTERM and waits up to grace for a clean exit, then kills
// the process group.
func (p *Proc) Stop(grace time.Duration) {
	p.signal(syscall.SIGTERM, grace)
}

func (p *Proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.stopped = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, sig)
	if sig != syscall.SIGKILL {
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	<-done
}

// Tail is the last n bytes of the process's log, for error messages.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// errExited is returned by readiness waits when the process ended.
var errExited = errors.New("process exited")

// waitFor polls cond every 50 ms until it returns nil, p exits, or the
// deadline passes; the error carries the end of p's log.
func (p *Proc) waitFor(within time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if exitErr, ok := p.Exited(); ok {
			return fmt.Errorf("%s: %w (%v); log ends:\n%s", p.Name, errExited, exitErr, p.Tail(2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready within %v: %v; log ends:\n%s", p.Name, within, err, p.Tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
