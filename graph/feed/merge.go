package feed

import (
	"slices"

	"crm/graph/model"
)

// contiguous keeps, of rows ordered by area then position (as
// readstore.EventsAfter answers), each area's run that continues after[area]
// without a gap: a row visible before an earlier one of its area (the
// events projection commits partitions independently) waits until the
// earlier one is there too.
func contiguous(rows []*model.Event, after Position) map[string][]*model.Event {
	out := map[string][]*model.Event{}
	next := after.Copy()
	for _, ev := range rows {
		a := ev.AreaName
		n, followed := next[a]
		if !followed || ev.PositionNum != n+1 {
			next[a] = -1 // a gap (or an area not followed): nothing more of this area
			continue
		}
		out[a] = append(out[a], ev)
		next[a] = ev.PositionNum
	}
	return out
}

// merge interleaves per-area queues, each in position order, into one list
// of at most n events (n < 0: all): the earliest occurredAt first, ties
// broken by area (in the order of Areas) and position. Each area keeps its
// own order whatever the clocks say, since only queue heads are compared.
func merge(queues map[string][]*model.Event, n int) []*model.Event {
	total := 0
	for _, q := range queues {
		total += len(q)
	}
	if n < 0 || n > total {
		n = total
	}
	out := make([]*model.Event, 0, n)
	heads := make(map[string]int, len(queues))
	for len(out) < n {
		var best *model.Event
		for _, a := range Areas {
			i := heads[a]
			if i >= len(queues[a]) {
				continue
			}
			if ev := queues[a][i]; best == nil || before(ev, best) {
				best = ev
			}
		}
		out = append(out, best)
		heads[best.AreaName]++
	}
	return out
}

// before orders events of different areas: occurredAt, then area.
func before(x, y *model.Event) bool {
	if !x.OccurredAt.Equal(y.OccurredAt) {
		return x.OccurredAt.Before(y.OccurredAt)
	}
	return slices.Index(Areas, x.AreaName) < slices.Index(Areas, y.AreaName)
}

// withCursor returns a copy of ev carrying the cursor of p (the feed's
// position right after ev): events are shared between subscribers, their
// cursors are not.
func withCursor(ev *model.Event, p Position) *model.Event {
	c := *ev
	c.Cursor = p.Encode()
	return &c
}
