package consumer

import (
	"context"

	"crm/eventlog"
)

// logPages reads a log page by page ahead of its caller: while the caller
// applies one page, the next is being fetched, so a catch-up overlaps the
// log's serving and decoding with PostgreSQL applying the page before. At
// most two pages are held (the one returned and the one being read).
type logPages struct {
	pages  chan logPage
	cancel context.CancelFunc
	done   chan struct{}
}

type logPage struct {
	evs []eventlog.Event
	err error
}

// readAhead starts reading src after position after, limit events a page.
// The pages end with an empty page or an error; stop must be called.
func readAhead(ctx context.Context, src LogSource, after int64, limit int) *logPages {
	ctx, cancel := context.WithCancel(ctx)
	lp := &logPages{pages: make(chan logPage, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		defer close(lp.pages)
		for {
			evs, err := src.ReadLog(ctx, after, limit)
			select {
			case lp.pages <- logPage{evs: evs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(evs) == 0 {
				return
			}
			after = evs[len(evs)-1].Position
		}
	}()
	return lp
}

// next returns the next page: empty at the log's end.
func (lp *logPages) next(ctx context.Context) ([]eventlog.Event, error) {
	select {
	case p, ok := <-lp.pages:
		if !ok {
			return nil, context.Canceled
		}
		return p.evs, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop ends the reading and waits for it.
func (lp *logPages) stop() {
	lp.cancel()
	<-lp.done
}
