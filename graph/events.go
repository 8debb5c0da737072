package graph

import (
	"context"
	"errors"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog/errcode"
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
	items, more, err := feed.Page(ctx, r.Store, set, start, n)
	if err != nil {
		return nil, err
	}
	c := &model.EventConnection{Edges: make([]*model.EventEdge, len(items))}
	last := ""
	for i, e := range items {
		last = e.Cursor
		c.Edges[i] = &model.EventEdge{Cursor: last, Node: e}
	}
	c.PageInfo = pageInfo(more, last)
	return c, nil
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
	return r.Feed.Subscribe(ctx, set, start, func(err error) { endSubscription(ctx, err) }), nil
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
