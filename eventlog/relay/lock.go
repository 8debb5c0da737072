package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockSession is the relay's dedicated PostgreSQL connection: it holds the
// area's session-level advisory lock and LISTENs for the log's commits.
// Its loss releases the lock (the server ends the session), which is what
// lets a standby relay take over when the active one's process dies.
type lockSession struct {
	conn *pgx.Conn
	name string // hashed into the advisory lock key
}

// closeTimeout bounds the courtesy statements sent when leaving.
const closeTimeout = 2 * time.Second

// connect opens the dedicated connection with the pool's settings, outside
// the pool so that it neither counts against the pool nor gets recycled.
func (r *Relay) connect(ctx context.Context) (*lockSession, error) {
	cc := r.cfg.Pool.Config().ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = "crm-relay-" + r.cfg.Area
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("relay %s: connect: %w", r.cfg.Area, err)
	}
	return &lockSession{conn: conn, name: r.lockName}, nil
}

// tryLock takes the area's lock if it is free. Taking it again while held
// by this session succeeds too (and stacks, which unlock undoes by closing).
func (s *lockSession) tryLock(ctx context.Context) (bool, error) {
	var got bool
	err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", s.name).Scan(&got)
	if err != nil {
		return false, fmt.Errorf("try advisory lock: %w", err)
	}
	return got, nil
}

// pid is the session's backend process id.
func (s *lockSession) pid() uint32 { return s.conn.PgConn().PID() }

// listen subscribes the session to channel.
func (s *lockSession) listen(ctx context.Context, channel string) error {
	if _, err := s.conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	return nil
}

// errLockLost says the lock's connection broke: the server has released the
// lock, so this relay must stop relaying.
var errLockLost = errors.New("relay: lock connection lost")

// wait returns when the log may have events after pos: on a NOTIFY whose
// head is past pos, or after poll (the safety poll). It returns nil also
// when ctx ends, and errLockLost when the connection broke.
func (s *lockSession) wait(ctx context.Context, poll time.Duration, pos int64) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, poll)
		n, err := s.conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			// Notifications of commits already relayed (queued while the
			// relay was busy) need no read.
			if head, perr := strconv.ParseInt(n.Payload, 10, 64); perr == nil && head <= pos {
				continue
			}
			return nil
		case ctx.Err() != nil:
			return nil
		case timedOut && !s.conn.IsClosed():
			return nil
		default:
			return fmt.Errorf("%w: %w", errLockLost, err)
		}
	}
}

// unlock releases the lock explicitly, so that a standby need not wait for
// the session's end to be noticed. Best effort: close releases it anyway.
func (s *lockSession) unlock() {
	if s.conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_, _ = s.conn.Exec(ctx, "SELECT pg_advisory_unlock_all()")
}

// close ends the session, which releases the lock if still held.
func (s *lockSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = s.conn.Close(ctx)
}
