package graph

import (
	"context"
	"errors"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog/errcode"
	"crm/graph/access"
	"crm/graph/auth"
	"crm/graph/readstore"
)

// authorize is the access check of every operation, before any resolver
// runs (the rules are graph/access's): without a principal in the context
// only introspection is answered (UNAUTHENTICATED); every root field the
// operation selects must be allowed to the principal's role, and a role
// that does not see personal data may not select Customer.email, phone or
// address (FORBIDDEN, for the whole operation: nothing is read and no
// command is sent). An allowed operation runs with the principal's
// access.Scope in its context: the read store applies it to every
// statement, for the operation's lifetime (a subscription's too).
func authorize(store *readstore.Store, present graphql.ErrorPresenterFunc) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		opCtx := graphql.GetOperationContext(ctx)
		if opCtx == nil || opCtx.Operation == nil {
			return next(ctx)
		}
		p := auth.FromContext(ctx)
		if p == nil {
			if introspectionOnly(opCtx) {
				return next(ctx)
			}
			return refuse(ctx, present, access.Unauthenticated)
		}
		scope, err := access.Resolve(ctx, p, store.Team)
		if err != nil {
			return refuse(ctx, present, err)
		}
		root := rootType(opCtx.Operation.Operation)
		for _, f := range graphql.CollectFields(opCtx, opCtx.Operation.SelectionSet, nil) {
			if isMeta(f.Name) {
				continue
			}
			if err := scope.Allow(root + "." + f.Name); err != nil {
				return refuse(ctx, present, err)
			}
		}
		if !scope.Personal() && selectsPersonal(opCtx.Operation.SelectionSet) {
			return refuse(ctx, present, access.Forbidden("personal data (Customer.email, phone, address) for role "+string(p.Role)))
		}
		return next(access.WithScope(ctx, scope))
	}
}

// refuse answers an operation with err alone, presented as any other.
func refuse(ctx context.Context, present graphql.ErrorPresenterFunc, err error) graphql.ResponseHandler {
	var coded *errcode.Error
	if !errors.As(err, &coded) {
		err = errcode.Wrap(errcode.Internal, err, "internal error")
	}
	return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{present(ctx, err)}})
}

func rootType(op ast.Operation) string {
	switch op {
	case ast.Mutation:
		return "Mutation"
	case ast.Subscription:
		return "Subscription"
	}
	return "Query"
}

func isMeta(name string) bool { return name == "__typename" || name == "__schema" || name == "__type" }

// introspectionOnly reports whether an operation selects nothing but
// introspection (and __typename): what a client may ask before signing in.
func introspectionOnly(opCtx *graphql.OperationContext) bool {
	if opCtx.Operation.Operation != ast.Query {
		return false
	}
	for _, f := range graphql.CollectFields(opCtx, opCtx.Operation.SelectionSet, nil) {
		if !isMeta(f.Name) {
			return false
		}
	}
	return true
}

// selectsPersonal reports whether set selects, at any depth and through
// any fragment, a personal field of Customer (access.PersonalFields).
func selectsPersonal(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.ObjectDefinition != nil && s.ObjectDefinition.Name == "Customer" && slices.Contains(access.PersonalFields, s.Name) {
				return true
			}
			if selectsPersonal(s.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if selectsPersonal(s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && selectsPersonal(s.Definition.SelectionSet) {
				return true
			}
		}
	}
	return false
}
