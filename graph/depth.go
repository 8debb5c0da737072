package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog/errcode"
)

// DepthLimit refuses operations nested deeper than Max fields (gqlgen has
// no depth limit of its own; the complexity limit alone lets a narrow but
// deep query through). Introspection fields ("__schema", "__type") are not
// counted: GraphiQL's introspection query is deep by nature and cheap.
// The refusal is BAD_USER_INPUT with field "query" and
// extensions.reason "DEPTH_LIMIT_EXCEEDED", before any resolver runs.
type DepthLimit struct {
	Max int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = DepthLimit{}

// ExtensionName names the extension.
func (DepthLimit) ExtensionName() string { return "DepthLimit" }

// Validate accepts every schema.
func (DepthLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation's depth.
func (d DepthLimit) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if d.Max <= 0 || opCtx.Operation == nil {
		return nil
	}
	if depth := selectionDepth(opCtx.Operation.SelectionSet, d.Max+1, 0); depth > d.Max {
		err := gqlerror.Errorf("query is nested %d levels deep or more; the limit is %d", depth, d.Max)
		err.Extensions = map[string]any{
			"code":   string(errcode.BadUserInput),
			"field":  "query",
			"reason": "DEPTH_LIMIT_EXCEEDED",
		}
		return err
	}
	return nil
}

// selectionDepth is the depth of the deepest field under set, counting
// from 1, stopping once it reaches stop (fragment cycles are refused by
// validation before this runs; stop bounds the work regardless).
func selectionDepth(set ast.SelectionSet, stop, seen int) int {
	if seen >= stop {
		return seen
	}
	deepest := seen
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.Name) > 1 && s.Name[:2] == "__" {
				continue
			}
			d = selectionDepth(s.SelectionSet, stop, seen+1)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, stop, seen)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, stop, seen)
			}
		}
		if d > deepest {
			deepest = d
		}
	}
	return deepest
}

// noIntrospection refuses operations that select __schema or __type when
// introspection is off, before any resolver runs, with gqlgen's validation
// code (gqlgen itself would only fail the field, with an uncoded error).
type noIntrospection struct{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (noIntrospection) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil || !selectsIntrospection(opCtx.Operation.SelectionSet) {
		return nil
	}
	err := gqlerror.Errorf("introspection is disabled")
	err.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
	return err
}

// selectsIntrospection looks at the root selection, where __schema and
// __type live, through fragments.
func selectsIntrospection(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if selectsIntrospection(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && selectsIntrospection(s.Definition.SelectionSet) {
				return true
			}
		}
	}
	return false
}
