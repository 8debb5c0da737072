package feed

import (
	"context"

	"crm/graph/model"
)

// Page answers one page of the feed of areas after start (nil: from the
// beginning): at most first events, each with its cursor, merged across
// areas by occurredAt (then area, then position; per area always by
// position), only rows without a gap before them; and whether more follow.
func Page(ctx context.Context, r Reader, areas []string, start Position, first int) ([]*model.Event, bool, error) {
	items, more, _, err := PageKeeping(ctx, r, areas, start, first, nil)
	return items, more, err
}

// pageScan bounds the events one PageKeeping passes over: reads of
// scanRead events per area, at most scanReads of them.
const (
	scanRead  = 256
	scanReads = 20
)

// PageKeeping is Page with only the events keep keeps (nil: all). Hidden
// events are passed over (the page holds up to first visible ones, so a
// page is never cut before its visible rows are counted) and advance the
// position it also answers: where the page ends, after the last event
// delivered or passed over (nil when nothing was read), which resumes the
// feed like an event's cursor. A feed mostly hidden from the caller is
// scanned at most scanReads reads at a time; more is then true.
func PageKeeping(ctx context.Context, r Reader, areas []string, start Position, first int, keep Keep) ([]*model.Event, bool, Position, error) {
	if start == nil {
		start = Position{}
		for _, a := range areas {
			start[a] = 0
		}
	}
	p := start.Copy()
	read := first + 1
	if keep != nil {
		read = max(read, scanRead)
	}
	out := []*model.Event{}
	moved := false
	end := func() Position {
		if !moved {
			return nil
		}
		return p
	}
	for reads := 0; ; reads++ {
		if reads == scanReads {
			return out, true, end(), nil
		}
		rows, err := r.EventsAfter(ctx, p, read)
		if err != nil {
			return nil, false, nil, err
		}
		// The first read events of the merge are in feed order; beyond them
		// an area may have unread rows that come earlier.
		all := merge(contiguous(rows, p), -1)
		all = all[:min(len(all), read)]
		if len(all) == 0 {
			return out, false, end(), nil
		}
		var kept []bool
		if keep != nil {
			if kept, err = keep(ctx, all); err != nil {
				return nil, false, nil, err
			}
		}
		for i, ev := range all {
			if kept != nil && !kept[i] {
				p[ev.AreaName] = ev.PositionNum
				moved = true
				continue
			}
			if len(out) == first {
				return out, true, end(), nil
			}
			p[ev.AreaName] = ev.PositionNum
			moved = true
			out = append(out, withCursor(ev, p))
		}
		if len(all) < read {
			return out, false, end(), nil
		}
	}
}
