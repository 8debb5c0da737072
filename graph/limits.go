package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"crm/eventlog/errcode"
	"crm/graph/generated"
	"crm/graph/model"
	"crm/graph/readstore"
)

// pageComplexity makes a connection field cost its selection once per row
// it may return (first, default readstore.DefaultFirst), so that aliases of
// a page of 100 rows count for what they read, not as one field each.
func pageComplexity(c *generated.ComplexityRoot) {
	page := func(child int, first *int) int {
		n := readstore.DefaultFirst
		if first != nil {
			n = min(max(*first, 1), readstore.MaxFirst) // out of range is refused when resolved
		}
		return 1 + n*child
	}
	c.Query.Customers = func(child int, first *int, _ *string, _ *model.CustomerFilter) int { return page(child, first) }
	c.Query.Appointments = func(child int, first *int, _ *string, _ *model.AppointmentFilter) int { return page(child, first) }
	c.Customer.Appointments = func(child int, first *int, _ *string) int { return page(child, first) }
	c.Customer.History = func(child int, first *int, _ *string) int { return page(child, first) }
	c.Salesperson.Customers = func(child int, first *int, _ *string) int { return page(child, first) }
	c.Query.Events = func(child int, _ []model.Area, _ *string, first *int) int { return page(child, first) }
}

// ShapeLimit refuses, before gqlgen parses and validates a document (work
// that grows with the number of fragments, and that the complexity walk
// repeats for every fragment spread), a document with more than
// MaxFragments fragment definitions, or one whose operation selects more
// than MaxFields fields once its fragments are expanded. A chain of
// fragments each spreading the next twice selects 2^n fields in a few
// hundred bytes; counting with one memo per fragment takes linear time.
//
// Refusals: BAD_USER_INPUT with field "query" and extensions.reason
// "FRAGMENT_LIMIT_EXCEEDED"; COMPLEXITY_LIMIT_EXCEEDED for the field count
// (the same budget as the complexity limit, which counts at least one per
// field). A document that does not parse is left to gqlgen's parser.
type ShapeLimit struct {
	MaxFragments int
	MaxFields    int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = ShapeLimit{}

// ExtensionName names the extension.
func (ShapeLimit) ExtensionName() string { return "ShapeLimit" }

// Validate accepts every schema.
func (ShapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters measures the raw document.
func (l ShapeLimit) MutateOperationParameters(_ context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		return nil
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: params.Query})
	if err != nil {
		return nil
	}
	if l.MaxFragments > 0 && len(doc.Fragments) > l.MaxFragments {
		e := gqlerror.Errorf("the document defines %d fragments; the limit is %d", len(doc.Fragments), l.MaxFragments)
		e.Extensions = map[string]any{"code": string(errcode.BadUserInput), "field": "query", "reason": "FRAGMENT_LIMIT_EXCEEDED"}
		return e
	}
	if l.MaxFields <= 0 {
		return nil
	}
	c := fieldCounter{doc: doc, stop: l.MaxFields + 1, memo: map[string]int{}}
	for _, op := range doc.Operations {
		if n := c.count(op.SelectionSet); n > l.MaxFields {
			e := gqlerror.Errorf("the operation selects more than %d fields once its fragments are expanded", l.MaxFields)
			e.Extensions = map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"}
			return e
		}
	}
	return nil
}

// fieldCounter counts the fields a selection set selects, fragments
// expanded, saturating at stop.
type fieldCounter struct {
	doc  *ast.QueryDocument
	stop int
	memo map[string]int // fragment name → its count; -1 while counting (a cycle, refused later by validation)
}

func (c fieldCounter) count(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			n += 1 + c.count(s.SelectionSet)
		case *ast.InlineFragment:
			n += c.count(s.SelectionSet)
		case *ast.FragmentSpread:
			m, seen := c.memo[s.Name]
			if !seen {
				c.memo[s.Name] = -1
				if f := c.doc.Fragments.ForName(s.Name); f != nil {
					m = c.count(f.SelectionSet)
				}
				c.memo[s.Name] = m
			}
			n += max(m, 0)
		}
		if n >= c.stop {
			return c.stop
		}
	}
	return n
}

// MutateOperationContext refuses, before any resolver runs, a connection
// argument first outside 0..readstore.MaxFirst anywhere in the operation
// (fragments followed): resolving it would fail only that field, after its
// parents had been read. BAD_USER_INPUT on field "first".
func (l ShapeLimit) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	if badFirst(opCtx.Operation.SelectionSet, opCtx.Variables, map[string]bool{}) {
		e := gqlerror.Errorf("first must be between 0 and %d", readstore.MaxFirst)
		e.Extensions = map[string]any{"code": string(errcode.BadUserInput), "field": "first"}
		return e
	}
	return nil
}

func badFirst(set ast.SelectionSet, vars map[string]any, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if a := s.Arguments.ForName("first"); a != nil {
				if v, err := a.Value.Value(vars); err == nil && v != nil {
					n, ok := v.(int64)
					if !ok || n < 0 || n > readstore.MaxFirst {
						return true
					}
				}
			}
			if badFirst(s.SelectionSet, vars, seen) {
				return true
			}
		case *ast.InlineFragment:
			if badFirst(s.SelectionSet, vars, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				if badFirst(s.Definition.SelectionSet, vars, seen) {
					return true
				}
			}
		}
	}
	return false
}
