package consumer

import (
	"context"

	"crm/eventlog"
)

// LogPages reads a log page by page ahead of its caller: while the caller
// applies one page, the next is being fetched, so a catch-up overlaps the
// log's serving and decoding with PostgreSQL applying the page before. At
// most two pages are held (the one returned and the one being read).
type LogPages struct {
	pages  chan logPage
	cancel context.CancelFunc
	done   chan struct{}
}

type logPage struct {
	evs []eventlog.Event
	err error
}

// ReadAhead starts reading src after position after, limit events a page,
// for a catch-up, a rebuild or a verify. The pages end with an empty page
// or an error; Stop must be called.
func ReadAhead(ctx context.Context, src LogSource, after int64, limit int) *LogPages {
	ctx, cancel := context.WithCancel(ctx)
	lp := &LogPages{pages: make(chan logPage, 1), cancel: cancel, done: make(chan struct{})}
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

// Next returns the next page: empty at the log's end.
func (lp *LogPages) Next(ctx context.Context) ([]eventlog.Event, error) {
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

// Stop ends the reading and waits for it.
func (lp *LogPages) Stop() {
	lp.cancel()
	<-lp.done
}
