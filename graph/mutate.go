package graph

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/graph/access"
	"crm/graph/auth"
	"crm/graph/live"
	"crm/graph/readstore"
	"crm/graph/svc"
	"crm/projector"
	"crm/services/wire"
)

// errNoWriteSide is answered when the gateway runs without services.
var errNoWriteSide = errcode.New(errcode.Unavailable, "the write services are not configured")

// command sends a mutation to an area service, then waits until every
// projection that follows the area's log has applied what it recorded for
// its entity (read-your-writes), projection (the one serving the answer)
// first, and returns the entity's id. Waiting for all of them, not only
// the answer's, lets any query after the mutation read the write: the
// customer's openDealCount after openDeal, its history after an update. The wait is bounded: CONSISTENCY_TIMEOUT
// says the write is durable and a retry with the same idempotencyKey is
// safe (it records nothing new and answers the same entity). A command
// whose outcome stays unknown (svc.OutcomeUnknownError) is INTERNAL with
// extensions.idempotencyKey: the key to retry it with.
func (r *Resolver) command(ctx context.Context, area, name, projection string, input any) (string, error) {
	if r.Commands == nil || r.Applied == nil {
		return "", errNoWriteSide
	}
	res, err := r.Commands.Command(ctx, area, name, input, svc.Meta{Actor: actor(ctx), CorrelationID: correlationID(ctx)})
	var unknown *svc.OutcomeUnknownError
	if errors.As(err, &unknown) {
		// INTERNAL, not UNAVAILABLE (which says nothing was recorded), with
		// the key the command went with, so the client can retry it safely
		// even when it sent none. (svc logged the cause.)
		return "", &gqlerror.Error{Message: errcode.Public(err).Message,
			Extensions: map[string]any{"code": string(errcode.Internal), "idempotencyKey": unknown.IdempotencyKey}}
	}
	if err != nil {
		return "", err
	}
	if pos := primaryPosition(res); pos > 0 {
		timeout := r.ConsistencyTimeout
		if timeout == 0 {
			timeout = 5 * time.Second
		}
		partitions := r.Partitions
		if partitions == 0 {
			partitions = 8
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		var err error
		for _, p := range waitFor(projection, res.Area) {
			if err = r.Applied(wctx, p, res.Area, eventlog.Partition(res.StreamID, partitions), pos); err != nil {
				break
			}
		}
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return "", errcode.Wrap(errcode.ConsistencyTimeout, err,
					"the change is recorded but not yet visible; retry with the same idempotencyKey to get it")
			}
			return "", errcode.Wrap(errcode.Unavailable, err, "the read side is unavailable")
		}
	}
	return res.StreamID, nil
}

// followers lists, per area, the projections that follow its log.
var followers = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	for _, p := range projector.All() {
		for _, area := range p.Sources() {
			out[area] = append(out[area], p.Name())
		}
	}
	return out
})

// waitFor lists the projections a write to area waits for: projection,
// then the others that follow area.
func waitFor(projection, area string) []string {
	out := []string{projection}
	for _, p := range followers()[area] {
		if p != projection {
			out = append(out, p)
		}
	}
	return out
}

// primaryPosition is the position of the last event recorded for the
// command's entity (0 when it recorded nothing).
func primaryPosition(res wire.Result) int64 {
	var pos int64
	for _, e := range res.Events {
		if e.StreamID == res.StreamID && e.Position > pos {
			pos = e.Position
		}
	}
	return pos
}

type correlationKey struct{}

// WithCorrelationID carries the request's correlation id to the commands.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

func correlationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// actor is who issues the request's commands: the principal's subject
// (graph/auth), recorded in the events' metadata.
func actor(ctx context.Context) string {
	if p := auth.FromContext(ctx); p != nil {
		return p.Subject
	}
	return ""
}

// fresh reads one entity straight from the store (not through the
// response's loaders, which may hold the row as it was before the write).
// The caller was allowed to make the change, so it gets its outcome even
// when the change left the row outside its scope (a customer a sales rep
// registered has no account team yet; one a manager handed to another
// team): the entity itself is read in access.Everything, its nested fields
// in the caller's scope.
func fresh[T any](ctx context.Context, id string, byID func(context.Context, []string) ([]*T, error)) (*T, error) {
	got, err := byID(readstore.PlanEach(access.WithScope(ctx, access.Everything())), []string{id})
	if err != nil {
		return nil, err
	}
	if len(got) == 0 || got[0] == nil {
		return nil, errcode.New(errcode.NotFound, "%s is not visible", id)
	}
	return got[0], nil
}

// mutate runs a command, once the caller may run it on t (see guard), and
// answers its entity as the read side has it. When the selection asks for
// the entity's id alone, the answer is that id, without reading the row:
// the command named it, and the projection has applied it (the wait of
// command) all the same.
func mutate[T any, P interface {
	*T
	SetID(string)
}](ctx context.Context, r *Resolver, t target, area, name, projection string, input any,
	byID func(context.Context, []string) ([]*T, error)) (*T, error) {
	if err := r.guard(ctx, t); err != nil {
		return nil, err
	}
	id, err := r.command(ctx, area, name, projection, input)
	if err != nil {
		return nil, err
	}
	if idOnly(ctx) {
		v := new(T)
		P(v).SetID(id)
		return v, nil
	}
	return fresh(ctx, id, byID)
}

// idOnly reports whether the selection of the field being resolved is its
// id (and __typename) and nothing else; a fragment counts as more.
func idOnly(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || len(fc.Field.Selections) == 0 {
		return false
	}
	for _, s := range fc.Field.Selections {
		if f, ok := s.(*ast.Field); !ok || (f.Name != "id" && f.Name != "__typename") {
			return false
		}
	}
	return true
}

// subscribe turns the changes filter accepts into a stream of entities
// read as committed. The channel closes when ctx ends. A row is read once
// for every subscriber of the change (in access.Everything) and pushed to
// those whose scope sees it as committed (sees, with the subscriber's
// context; nil: everyone). finish, if set, completes each subscriber's
// copy of a row (a customer's relations its selection asks for) before the
// push.
func subscribe[T any](ctx context.Context, r *Resolver, filter func(live.Change) bool,
	byID func(context.Context, []string) ([]*T, error), sees func(context.Context, *T) (*T, error),
	finish func(context.Context, *T) (*T, error)) (<-chan *T, error) {
	if r.Hub == nil {
		return nil, errcode.New(errcode.Unavailable, "subscriptions are not available")
	}
	changes := r.Hub.Subscribe(ctx, filter)
	out := make(chan *T, 1)
	go func() {
		defer close(out)
		for c := range changes {
			v, err := r.sharedCache().Load(c, func() (any, error) {
				// Not the subscriber's context: others share this read.
				rctx, cancel := context.WithTimeout(readstore.PlanEach(access.WithScope(context.WithoutCancel(ctx), access.Everything())), 10*time.Second)
				defer cancel()
				got, err := byID(rctx, []string{c.ID})
				if err != nil || len(got) == 0 {
					return (*T)(nil), err
				}
				return got[0], nil
			})
			row, _ := v.(*T)
			if err == nil && row != nil && sees != nil {
				row, err = sees(ctx, row)
			}
			if err == nil && row != nil && finish != nil {
				row, err = finish(ctx, row)
			}
			if err != nil || row == nil {
				continue
			}
			select {
			case out <- row:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// ref reports whether a change's ref matches an optional filter.
func ref(c live.Change, key string, want *string) bool {
	return want == nil || c.Refs[key] == *want
}
