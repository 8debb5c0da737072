package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"crm/graph/model"
	"crm/graph/readstore"
)

// Prefetching: when a connection's page is known, the related rows its
// nodes' selected fields will ask for are queued on the loaders in one go,
// so each becomes one batch however the field goroutines are scheduled.
// Loaders alone batch by timing (keys arriving within the wait), which a
// busy machine can split into several statements; the later per-field
// loads find the queued keys in the loader's cache.

// nodeFields returns the names of the fields selected under
// edges { node { ... } } of the connection field being resolved.
func nodeFields(ctx context.Context, typeName string) map[string]bool {
	fc, opCtx := graphql.GetFieldContext(ctx), graphql.GetOperationContext(ctx)
	if fc == nil || opCtx == nil || fc.Field.Field == nil {
		return nil
	}
	out := map[string]bool{}
	for _, edges := range graphql.CollectFields(opCtx, fc.Field.Selections, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(opCtx, edges.Selections, nil) {
			if node.Name != "node" {
				continue
			}
			for _, f := range graphql.CollectFields(opCtx, node.Selections, []string{typeName, "Node"}) {
				out[f.Name] = true
			}
		}
	}
	return out
}

// idSet gathers distinct non-empty ids in first-seen order.
type idSet struct {
	seen map[string]bool
	ids  []string
}

func (s *idSet) add(id *string) {
	if id == nil || *id == "" || s.seen[*id] {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[*id] = true
	s.ids = append(s.ids, *id)
}

func prefetchAppointments(ctx context.Context, l *readstore.Loaders, items []*model.Appointment) {
	f := nodeFields(ctx, "Appointment")
	if len(f) == 0 || len(items) == 0 {
		return
	}
	var people, custs idSet
	for _, a := range items {
		if f["salesperson"] {
			people.add(&a.SalespersonID)
		}
		if f["customer"] {
			custs.add(&a.CustomerID)
		}
	}
	if len(people.ids) > 0 {
		l.Salesperson.LoadAllThunk(ctx, people.ids)
	}
	if len(custs.ids) > 0 {
		l.Customer.LoadAllThunk(ctx, custs.ids)
	}
}
