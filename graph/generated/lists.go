package generated

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// marshalList marshals a list of n objects whose elements are selected by
// sel; graph/gen makes gqlgen's list marshalers call it. When the
// selection reaches a field that resolves concurrently (a resolver, which
// may wait on a loader its siblings feed), the elements go to gqlgen's
// MarshalSliceConcurrently as generated, a goroutine each, so that those
// resolvers still run side by side and batch. Otherwise marshaling an
// element is plain CPU work: they are marshaled in order on this
// goroutine, with the same field context and panic handling per element.
func marshalList(ctx context.Context, sel ast.SelectionSet, n int, marshal func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	if n > 1 && selectsConcurrent(sel) {
		return graphql.MarshalSliceConcurrently(ctx, n, 0, false, marshal)
	}
	ret := make(graphql.Array, n)
	for i := range n {
		ret[i] = marshalElement(ctx, i, marshal)
	}
	return ret
}

func marshalElement(ctx context.Context, i int, marshal func(ctx context.Context, i int) graphql.Marshaler) (ret graphql.Marshaler) {
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			ret = graphql.Null
		}
	}()
	return marshal(ctx, i)
}

// selectsConcurrent reports whether sel, through its fragments and nested
// selections, selects a field that gqlgen resolves concurrently.
func selectsConcurrent(sel ast.SelectionSet) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if s.ObjectDefinition != nil && concurrentFields[s.ObjectDefinition.Name][s.Name] {
				return true
			}
			if selectsConcurrent(s.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if selectsConcurrent(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && selectsConcurrent(s.Definition.SelectionSet) {
				return true
			}
		}
	}
	return false
}
