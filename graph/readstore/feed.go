package readstore

import (
	"context"
	"fmt"
	"slices"

	"crm/graph/model"
)

// EventsAfter reads the event feed's next rows: for each area of after, at
// most limit events whose position is greater than after[area], in one
// statement. The answer is ordered by area, then position. Rows of one area
// may be missing in the middle (the events projection commits partitions
// independently); callers keep only each area's contiguous prefix (see
// graph/feed).
//
// It reads every event whatever the caller's scope: the feed's tailer and
// window serve all subscribers, and contiguity needs every position. Each
// subscriber's access rules are applied to what it takes (feed.Keep;
// docs/access.md), so hidden events still advance its cursor.
func (s *Store) EventsAfter(ctx context.Context, after map[string]int64, limit int) ([]*model.Event, error) {
	areas := make([]string, 0, len(after))
	for a := range after {
		areas = append(areas, a)
	}
	slices.Sort(areas)
	positions := make([]int64, len(areas))
	for i, a := range areas {
		positions[i] = after[a]
	}
	got, err := collect(ctx, s.db, scanEvent, `SELECT e.* FROM unnest($1::text[], $2::bigint[]) AS f(area, after)
		CROSS JOIN LATERAL (SELECT `+eventCols+` FROM `+s.events+` e
			WHERE e.area = f.area AND e.position > f.after ORDER BY e.position LIMIT $3) e
		ORDER BY e.area, e.position`, areas, positions, limit)
	if err != nil {
		return nil, fmt.Errorf("events after %v: %w", after, err)
	}
	return nonNil(got), nil
}

// ContiguousHead returns the highest position h of area such that every
// position from 1 to h is in the events read model, given that every
// position up to from is (0: none known). It reads the rows after from
// once, up to the first one missing.
func (s *Store) ContiguousHead(ctx context.Context, area string, from int64) (int64, error) {
	var head int64
	err := s.db.QueryRow(ctx, `SELECT coalesce((SELECT position FROM (
			SELECT position, row_number() OVER (ORDER BY position) AS i,
			       lead(position) OVER (ORDER BY position) AS next
			FROM `+s.events+` WHERE area = $1 AND position > $2) r
		WHERE position = $2 + i AND (next IS NULL OR next <> position + 1) LIMIT 1), $2)`, area, from).Scan(&head)
	if err != nil {
		return 0, fmt.Errorf("contiguous head of %s: %w", area, err)
	}
	return head, nil
}
