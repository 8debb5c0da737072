package graph

import (
	"testing"

	"crm/graph/feed"
)

// Query.events pages the feed: each area by position, only gap-free
// prefixes, merged by time; edges and nodes carry the same feed cursor,
// which resumes the next page; history events carry their own area's
// cursor; a bad cursor or first is BAD_USER_INPUT.
func TestEventsQuery(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	e := newEnv(t)
	e.exec(`INSERT INTO {{.schema}}.events (area, position, id, stream_id, version, type, data, occurred_at, actor)
		SELECT 'customers', p, 'c' || p, 'cus_1', p, 'CustomerUpdated', '{}', '2030-01-01T00:00:00Z'::timestamptz + p * interval '1 minute', 'u1'
		FROM generate_series(1, 5) p`)
	e.exec(`INSERT INTO {{.schema}}.events (area, position, id, stream_id, version, type, data, occurred_at)
		SELECT 'campaigns', p, 'k' || p, 'cmp_1', 1, 'CampaignCreated', '{}', '2030-01-01T00:00:30Z'::timestamptz + p * interval '1 minute'
		FROM unnest('{1,2,3,5}'::int[]) p`) // 4 not visible yet
	type page struct {
		Events struct {
			Edges []struct {
				Cursor string
				Node   struct {
					ID, Cursor string
					Actor      *string
				}
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	q := `query($areas: [Area!], $after: String, $first: Int) { events(areas: $areas, after: $after, first: $first) {
		edges { cursor node { id cursor actor } } pageInfo { hasNextPage endCursor } } }`
	var ids []string
	var after any
	for {
		var p page
		e.query(&p, q, map[string]any{"after": after, "first": 3})
		for _, ed := range p.Events.Edges {
			if ed.Cursor != ed.Node.Cursor {
				t.Fatalf("edge cursor %q, node cursor %q", ed.Cursor, ed.Node.Cursor)
			}
			ids = append(ids, ed.Node.ID)
		}
		if !p.Events.PageInfo.HasNextPage {
			after = *p.Events.PageInfo.EndCursor
			break
		}
		after = *p.Events.PageInfo.EndCursor
	}
	if got := len(ids); got != 8 || ids[0] != "c1" || ids[1] != "k1" || ids[7] != "c5" {
		t.Fatalf("feed order %v", ids) // c1 k1 c2 k2 c3 k3 c4 c5: k5 waits for k4
	}
	end, err := feed.Decode(after.(string))
	if err != nil || end["customers"] != 5 || end["campaigns"] != 3 || end["appointments"] != 0 {
		t.Fatalf("end cursor %v, %v", end, err)
	}
	var p page
	e.query(&p, q, map[string]any{"areas": []string{"CUSTOMERS"}, "first": 1})
	if n := p.Events.Edges[0].Node; n.ID != "c1" || n.Actor == nil || *n.Actor != "u1" {
		t.Fatalf("customers only: %+v", p.Events.Edges)
	}
	e.query(&p, q, map[string]any{"areas": []string{"CAMPAIGNS"}, "after": after})
	if len(p.Events.Edges) != 0 || p.Events.PageInfo.HasNextPage {
		t.Fatalf("behind the gap: %+v", p.Events)
	}

	var h struct {
		Customer struct {
			History struct {
				Edges []struct{ Node struct{ ID, Cursor string } }
			}
		}
	}
	w := seedWorld(e)
	e.query(&h, `query($id: ID!) { customer(id: $id) { history(first: 1) { edges { node { id cursor } } } } }`, map[string]any{"id": w.alice})
	if c, err := feed.Decode(h.Customer.History.Edges[0].Node.Cursor); err != nil || len(c) != 1 || c["customers"] != 10 {
		t.Fatalf("history event cursor %v, %v", c, err)
	}

	wantError(t, e.post(q, map[string]any{"after": "bm9wZQ"}), "BAD_USER_INPUT", "after")
	wantError(t, e.post(q, map[string]any{"first": 101}), "BAD_USER_INPUT", "first")
}
