package appointments

import (
	"context"
	"errors"
	"hash/fnv"
)

// stripes serialize, within one process, the commands that book slots in
// the same salesperson's calendar. Correctness does not depend on them: the
// calendar stream's expected version already refuses all but one of racing
// bookings, and the loser is decided again. But each round of a race has a
// single winner, so n concurrent bookings for one salesperson would cost
// O(n²) decisions and could exhaust the executor's bounded retries, turning
// valid, non-overlapping bookings into CONFLICTs. Queueing them here makes
// in-process races impossible; races between processes remain rare and are
// still retried. Calendars share a stripe by hash, which only ever delays.
type stripes struct {
	locks [256]chan struct{}
}

func newStripes() *stripes {
	s := &stripes{}
	for i := range s.locks {
		s.locks[i] = make(chan struct{}, 1)
	}
	return s
}

// lock takes the stripe of key, waiting at most until ctx ends, and returns
// the function that releases it.
func (s *stripes) lock(ctx context.Context, key string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	l := s.locks[h.Sum32()%uint32(len(s.locks))]
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ctxErr reports whether err is the end of a context: the caller went away,
// which is neither the client's fault nor a dependency's.
func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
