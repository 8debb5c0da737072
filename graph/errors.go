package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog/errcode"
)

// errorPresenter translates errors once, at the edge: a coded error
// (crm/eventlog/errcode) shows its client-safe message with
// extensions.code, and extensions.field when it names the offending input
// (BAD_USER_INPUT; CONFLICT on expectedVersion or a taken email). gqlgen's own
// errors (parse, validation, complexity) keep their codes. Anything else
// is INTERNAL "internal error" for the client and logged, with its path,
// for the operator. A subscription the event feed ends (SLOW_CONSUMER,
// UNAVAILABLE, with extensions.cursor) does not pass here: see
// endSubscription.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr == nil {
			return nil
		}
		out := &gqlerror.Error{Message: gqlErr.Message, Path: gqlErr.Path, Locations: gqlErr.Locations, Rule: gqlErr.Rule}
		if coded := errcode.Of(err); coded != nil {
			if coded.Code == errcode.Internal && coded.Cause != nil {
				log.ErrorContext(ctx, "graphql: internal error", "path", gqlErr.Path.String(), "err", err)
			}
			out.Message = coded.Message
			out.Extensions = map[string]any{"code": string(coded.Code)}
			if coded.Field != "" {
				out.Extensions["field"] = coded.Field
			}
			return out
		}
		if gqlErr.Unwrap() == nil {
			// gqlgen's own errors (parse, validation, complexity, an
			// unreadable body) wrap nothing: keep their code, and call a
			// codeless one (a malformed request) BAD_USER_INPUT.
			out.Extensions = gqlErr.Extensions
			if _, ok := out.Extensions["code"]; !ok {
				out.Extensions = map[string]any{"code": string(errcode.BadUserInput)}
				for k, v := range gqlErr.Extensions {
					out.Extensions[k] = v
				}
			}
			return out
		}
		if errors.Is(err, context.Canceled) {
			// The client went away: no log, no detail.
			out.Message = "request cancelled"
			out.Extensions = map[string]any{"code": string(errcode.Unavailable)}
			return out
		}
		log.ErrorContext(ctx, "graphql: internal error", "path", gqlErr.Path.String(), "err", err)
		out.Message = "internal error"
		out.Extensions = map[string]any{"code": string(errcode.Internal)}
		return out
	}
}

// recoverFunc turns a resolver panic into INTERNAL without its text; the
// panic value goes to the log only.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		path := ""
		if fc := graphql.GetFieldContext(ctx); fc != nil {
			path = fc.Path().String()
		}
		log.ErrorContext(ctx, "graphql: panic in resolver", "path", path, "panic", fmt.Sprint(v))
		return errcode.New(errcode.Internal, "internal error")
	}
}
