package graph

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/graph/model"
	"crm/graph/readstore"
)

// The lists that are not paginated (salespeople, campaigns, a customer's
// and a campaign's deals) are counted in the complexity limit by their real
// size. gqlgen's complexity, computed before anything runs, counts each of
// them as one element; when one resolves, the elements beyond the first
// are charged, each at the cost of its selection, against what the
// operation has left under the limit. A list that does not fit is answered
// COMPLEXITY_LIMIT_EXCEEDED on its field (null, like any field error),
// so a response never holds more than the limit allows. Each response
// (each push of a subscription) starts with the whole remainder.

type listBudgetKey struct{}

// withListBudget gives the response the operation's remaining complexity.
func withListBudget(ctx context.Context) context.Context {
	st := extension.GetComplexityStats(ctx)
	if st == nil {
		return ctx
	}
	b := new(atomic.Int64)
	b.Store(int64(st.ComplexityLimit - st.Complexity))
	return context.WithValue(ctx, listBudgetKey{}, b)
}

// chargeList charges a list the current field resolved to the response's
// budget.
func chargeList[T any](ctx context.Context, items []T, err error) ([]T, error) {
	fc := graphql.GetFieldContext(ctx)
	oc := graphql.GetOperationContext(ctx)
	if err != nil || len(items) <= 1 || fc == nil || fc.Field.Field == nil || oc == nil {
		return items, err
	}
	per := max(selectionCost(fc.Field.Selections, oc.Variables, 0), 1)
	if err := charge(ctx, int64(len(items)-1)*int64(per)); err != nil {
		return nil, err
	}
	return items, nil
}

// chargeDeals charges the customers' deals that fillCustomers filled in
// (Customer.deals is a plain field, filled for a whole page at once), each
// deal beyond the first of its customer at the cost of the widest deals
// selection under the current field.
func chargeDeals(ctx context.Context, lists [][]*model.Deal) error {
	fc := graphql.GetFieldContext(ctx)
	oc := graphql.GetOperationContext(ctx)
	if fc == nil || fc.Field.Field == nil || oc == nil {
		return nil
	}
	var extra int64
	for _, l := range lists {
		extra += int64(max(len(l)-1, 0))
	}
	if extra == 0 {
		return nil
	}
	per := max(fieldCost(fc.Field.Selections, "deals", oc.Variables, 0), 1)
	return charge(ctx, extra*int64(per))
}

// charge takes cost from the response's budget, or answers
// COMPLEXITY_LIMIT_EXCEEDED when it does not fit.
func charge(ctx context.Context, cost int64) error {
	b, _ := ctx.Value(listBudgetKey{}).(*atomic.Int64)
	if b == nil || cost <= 0 {
		return nil
	}
	if b.Add(-cost) < 0 {
		e := gqlerror.Errorf("a list here is longer than the complexity limit allows with the rest of the operation: select fewer fields or split the operation")
		e.Extensions = map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"}
		return e
	}
	return nil
}

// fieldCost is the largest selectionCost of a field named name within set
// (fragments and nested fields searched, a few levels deep).
func fieldCost(set ast.SelectionSet, name string, vars map[string]any, depth int) int {
	if depth > 4 {
		return 0
	}
	best := 0
	for _, s := range set {
		var sub ast.SelectionSet
		switch s := s.(type) {
		case *ast.Field:
			if s.Name == name {
				best = max(best, selectionCost(s.SelectionSet, vars, 0))
				continue
			}
			sub = s.SelectionSet
		case *ast.InlineFragment:
			sub = s.SelectionSet
		case *ast.FragmentSpread:
			if s.Definition != nil {
				sub = s.Definition.SelectionSet
			}
		}
		best = max(best, fieldCost(sub, name, vars, depth+1))
	}
	return best
}

// selectionCost counts a selection as the complexity limit does: one per
// field, a connection's selection once per row it may return (first).
func selectionCost(set ast.SelectionSet, vars map[string]any, depth int) int {
	if depth > 32 {
		return 0
	}
	n := 0
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			child := selectionCost(s.SelectionSet, vars, depth+1)
			if a := s.Arguments.ForName("first"); a != nil {
				child *= pageSize(a, vars)
			} else if s.Definition != nil && s.Definition.Arguments.ForName("first") != nil {
				child *= readstore.DefaultFirst
			}
			n += 1 + child
		case *ast.InlineFragment:
			n += selectionCost(s.SelectionSet, vars, depth+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n += selectionCost(s.Definition.SelectionSet, vars, depth+1)
			}
		}
	}
	return n
}

func pageSize(a *ast.Argument, vars map[string]any) int {
	v, err := a.Value.Value(vars)
	if err != nil {
		return readstore.DefaultFirst
	}
	switch x := v.(type) {
	case int64:
		return min(max(int(x), 1), readstore.MaxFirst)
	case int:
		return min(max(x, 1), readstore.MaxFirst)
	case nil:
		return readstore.DefaultFirst
	}
	return readstore.DefaultFirst
}
