package graph

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/graph/access"
	"crm/graph/feed"
	"crm/graph/model"
	"crm/graph/readstore"
)

// feedStart reads the areas and after arguments: the feed's area set and
// where to start (nil: no cursor). Errors: BAD_USER_INPUT.
func feedStart(areas []model.Area, after *string) ([]string, feed.Position, error) {
	names := make([]string, len(areas))
	for i, a := range areas {
		names[i] = strings.ToLower(string(a))
	}
	set, err := feed.AreaSet(names)
	if err != nil {
		return nil, nil, err
	}
	start, err := feed.Start(set, after)
	return set, start, err
}

// events serves Query.events: a page of the feed (see feed.Page).
func (r *Resolver) events(ctx context.Context, areas []model.Area, after *string, first *int) (*model.EventConnection, error) {
	n, err := readstore.ParseFirst(first)
	if err != nil {
		return nil, err
	}
	set, start, err := feedStart(areas, after)
	if err != nil {
		return nil, err
	}
	items, more, end, err := feed.PageKeeping(ctx, r.Store, set, start, n, r.keepEvents(ctx))
	if err != nil {
		return nil, err
	}
	c := &model.EventConnection{Edges: make([]*model.EventEdge, len(items))}
	last := ""
	for i, e := range items {
		last = e.Cursor
		c.Edges[i] = &model.EventEdge{Cursor: last, Node: e}
	}
	if end != nil {
		// Past the events the caller may not see, too: the next page
		// does not read them again.
		last = end.Encode()
	}
	c.PageInfo = pageInfo(more, last)
	return c, nil
}

// keepEvents is the caller's view of the event feed (nil: every event):
// no event of an area its scope hides (access.Scope.HiddenAreas), and, for
// a scope of own rows, the events of customers, appointments and deals it
// sees, looked up in the read model with its scope (a statement per kind
// per batch); salespeople's and campaigns' events are everyone's.
func (r *Resolver) keepEvents(ctx context.Context) feed.Keep {
	s := access.From(ctx)
	hidden := s.HiddenAreas()
	if len(hidden) == 0 && !s.StreamRows() && s.Role() != "" {
		return nil
	}
	return func(ctx context.Context, evs []*model.Event) ([]bool, error) {
		kept := make([]bool, len(evs))
		var cus, apt, deal idSet
		for i, e := range evs {
			if s.Role() == "" || slices.Contains(hidden, e.AreaName) {
				continue
			}
			kept[i] = true
			if !s.StreamRows() {
				continue
			}
			switch streamKind(e.StreamID) {
			case ids.Customer:
				cus.add(&e.StreamID)
			case ids.Appointment:
				apt.add(&e.StreamID)
			case ids.Deal:
				deal.add(&e.StreamID)
			}
		}
		seen := map[string]bool{}
		if err := markSeen(ctx, seen, cus.ids, r.Store.CustomersByID, func(c *model.Customer) string { return c.ID }); err != nil {
			return nil, err
		}
		if err := markSeen(ctx, seen, apt.ids, r.Store.AppointmentsByID, func(a *model.Appointment) string { return a.ID }); err != nil {
			return nil, err
		}
		if err := markSeen(ctx, seen, deal.ids, r.Store.DealsByID, func(d *model.Deal) string { return d.ID }); err != nil {
			return nil, err
		}
		if s.StreamRows() {
			for i, e := range evs {
				switch streamKind(e.StreamID) {
				case ids.Salesperson, ids.Campaign:
				default: // a row of the scope's, or a stream of no known kind: hidden
					kept[i] = kept[i] && seen[e.StreamID]
				}
			}
		}
		return kept, nil
	}
}

// streamKind is the prefix of a stream id (an entity id: cus_..., deal_...).
func streamKind(id string) string {
	p, _, _ := strings.Cut(id, "_")
	return p
}

// markSeen reads the rows of keys the caller's scope sees and marks them.
func markSeen[T any](ctx context.Context, seen map[string]bool, keys []string,
	byID func(context.Context, []string) ([]*T, error), id func(*T) string) error {
	if len(keys) == 0 {
		return nil
	}
	got, err := byID(ctx, keys)
	if err != nil {
		return err
	}
	for _, v := range got {
		if v != nil {
			seen[id(v)] = true
		}
	}
	return nil
}

// eventActor serves Event.actor: admins only (access.Scope.Actor); null
// for everyone else.
func eventActor(ctx context.Context, e *model.Event) *string {
	if !access.From(ctx).Actor() {
		return nil
	}
	return e.Actor
}

// eventFeed serves Subscription.eventRecorded. A bad cursor is refused
// before anything is subscribed. A subscription the feed ends (a slow
// subscriber, an unreadable read model) closes with a graphql-transport-ws
// error message carrying extensions.code and extensions.cursor.
func (r *Resolver) eventFeed(ctx context.Context, areas []model.Area, after *string) (<-chan *model.Event, error) {
	if r.Feed == nil {
		return nil, errcode.New(errcode.Unavailable, "the event feed is not available")
	}
	set, start, err := feedStart(areas, after)
	if err != nil {
		return nil, err
	}
	return r.Feed.SubscribeKeeping(ctx, set, start, r.keepEvents(ctx), func(err error) { endSubscription(ctx, err) }), nil
}

// endSubscription hands the reason a subscription ends to the WebSocket
// transport, which sends it as the operation's error instead of complete.
func endSubscription(ctx context.Context, err error) {
	e := &gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": string(errcode.Internal)}}
	var ended *feed.Ended
	if errors.As(err, &ended) {
		e = &gqlerror.Error{Message: ended.Message, Extensions: map[string]any{"code": string(ended.Code), "cursor": ended.Cursor}}
	}
	defer func() { _ = recover() }() // a transport without subscription errors (none serves subscriptions yet)
	transport.AddSubscriptionError(ctx, e)
}
