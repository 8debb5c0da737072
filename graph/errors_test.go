package graph

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog/errcode"
)

func TestErrorPresenter(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	present := errorPresenter(log)
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)

	got := present(ctx, gqlerror.WrapPath(nil, errcode.Invalid("input.email", "not an email address")))
	if got.Message != "not an email address" || got.Extensions["code"] != "BAD_USER_INPUT" || got.Extensions["field"] != "input.email" {
		t.Fatalf("coded: %+v", got)
	}
	got = present(ctx, errcode.Wrap(errcode.Conflict, errors.New("version 3 != 4 in table x"), "stale version"))
	if got.Message != "stale version" || got.Extensions["code"] != "CONFLICT" || got.Extensions["field"] != nil {
		t.Fatalf("conflict: %+v", got)
	}
	got = present(ctx, errors.New("pq: secret table exploded"))
	if got.Message != "internal error" || got.Extensions["code"] != "INTERNAL" || !strings.Contains(logs.String(), "secret table") {
		t.Fatalf("internal: %+v, logs %q", got, logs.String())
	}
	parse := gqlerror.Errorf("bad syntax")
	parse.Extensions = map[string]any{"code": "GRAPHQL_PARSE_FAILED"}
	if got = present(ctx, parse); got.Extensions["code"] != "GRAPHQL_PARSE_FAILED" || got.Message != "bad syntax" {
		t.Fatalf("gqlgen's own: %+v", got)
	}

	// A panic: INTERNAL, its value only in the log.
	logs.Reset()
	got = present(ctx, recoverFunc(log)(ctx, "index out of range [7]"))
	if got.Message != "internal error" || got.Extensions["code"] != "INTERNAL" || !strings.Contains(logs.String(), "index out of range") {
		t.Fatalf("panic: %+v, logs %q", got, logs.String())
	}
}
