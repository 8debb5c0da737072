// Package graph is the GraphQL gateway: the contract schema served by
// gqlgen (schema-first; schema/contract.graphqls is an exact copy of the
// contract), query resolvers over the read models (crm/graph/readstore)
// and the HTTP handler for /graphql with its protections. Mutations,
// subscriptions and the projections query are wired by the gateway's
// assembly around it.
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"crm/eventlog/errcode"
	"crm/graph/generated"
	"crm/graph/readstore"
)

// Config configures the GraphQL handler.
type Config struct {
	// Resolver is the root resolver; its Store is required.
	Resolver *Resolver
	// Logger receives internal errors and panics; default slog.Default().
	Logger *slog.Logger
	// Introspection enables __schema/__type queries (GraphiQL needs them).
	Introspection bool
	// MaxBodyBytes caps a request body; default 1 MiB. Larger bodies are
	// refused with HTTP 413 and BAD_USER_INPUT before any parsing.
	MaxBodyBytes int64
	// ComplexityLimit caps gqlgen's complexity (COMPLEXITY_LIMIT_EXCEEDED):
	// 1 per field, a connection's selection counted once per row it may
	// return (first, default 20); default 2000. It also caps the fields a
	// document selects once its fragments are expanded (see ShapeLimit).
	ComplexityLimit int
	// MaxDepth caps field nesting (see DepthLimit); default 12.
	MaxDepth int
	// MaxFragments caps the fragments a document defines (see ShapeLimit);
	// default 100.
	MaxFragments int
	// APQCacheSize is the number of persisted queries kept (LRU); default 1000.
	APQCacheSize int
	// QueryCacheSize is the number of parsed documents kept; default 1000.
	QueryCacheSize int
	// Transports are tried before GET and POST (the first that supports
	// a request serves it): the WebSocket transport goes here, since an
	// upgrade is a GET.
	Transports []graphql.Transport
}

// DefaultComplexityLimit is Config.ComplexityLimit's default.
const DefaultComplexityLimit = 2000

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ComplexityLimit == 0 {
		c.ComplexityLimit = DefaultComplexityLimit
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = 12
	}
	if c.MaxFragments == 0 {
		c.MaxFragments = 100
	}
	if c.APQCacheSize == 0 {
		c.APQCacheSize = 1000
	}
	if c.QueryCacheSize == 0 {
		c.QueryCacheSize = 1000
	}
}

// Validate reports every wrong field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Resolver == nil || c.Resolver.Store == nil {
		errs = append(errs, errors.New("graph: Config.Resolver with a Store is required"))
	}
	if c.MaxBodyBytes < 0 || c.ComplexityLimit < 0 || c.MaxDepth < 0 || c.MaxFragments < 0 || c.APQCacheSize < 0 || c.QueryCacheSize < 0 {
		errs = append(errs, errors.New("graph: limits must not be negative"))
	}
	return errors.Join(errs...)
}

// NewServer returns the gqlgen server with the POST and GET transports,
// caches, limits, error presenter and per-response loaders, for a caller
// that adds more transports (WebSocket) before serving it. Serve it through
// NewHandler's body limit, or add one.
func NewServer(cfg Config) (*handler.Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := cfg.Resolver
	gcfg := generated.Config{Resolvers: r}
	pageComplexity(&gcfg.Complexity)
	srv := handler.New(generated.NewExecutableSchema(gcfg))
	for _, t := range cfg.Transports {
		srv.AddTransport(t)
	}
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](cfg.QueryCacheSize))
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](cfg.APQCacheSize)})
	srv.Use(ShapeLimit{MaxFragments: cfg.MaxFragments, MaxFields: cfg.ComplexityLimit})
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))
	srv.Use(DepthLimit{Max: cfg.MaxDepth})
	srv.SetErrorPresenter(errorPresenter(cfg.Logger))
	srv.SetRecoverFunc(recoverFunc(cfg.Logger))
	// Who may run the operation, and the scope it reads in (graph/access).
	srv.AroundOperations(authorize(r.Store, errorPresenter(cfg.Logger)))
	// Fresh loaders per response: a query's fields share one batch set,
	// and each subscription push reads current rows, not a cache. Each
	// response also gets what the operation leaves under the complexity
	// limit, for the lists counted by their real size (listcost.go).
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		return next(withListBudget(readstore.WithLoaders(ctx, readstore.NewLoaders(r.Store, r.LoaderWait))))
	})
	return srv, nil
}

// NewHandler returns the http.Handler for /graphql: NewServer behind the
// request body limit.
func NewHandler(cfg Config) (http.Handler, error) {
	srv, err := NewServer(cfg)
	if err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return LimitBody(srv, cfg.MaxBodyBytes), nil
}

// LimitBody refuses bodies over max bytes with HTTP 413 and a GraphQL error
// BAD_USER_INPUT (field "body"), whether or not the client announced the
// length; within the limit the body is passed on whole.
func LimitBody(next http.Handler, max int64) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			tooLarge(w, max)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					tooLarge(w, max)
					return
				}
				writeGraphQLError(w, http.StatusBadRequest, "could not read the request body", errcode.BadUserInput, "body")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, r)
	})
	return http.MaxBytesHandler(inner, max)
}

func tooLarge(w http.ResponseWriter, max int64) {
	writeGraphQLError(w, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("request body larger than %d bytes", max), errcode.BadUserInput, "body")
}

func writeGraphQLError(w http.ResponseWriter, status int, msg string, code errcode.Code, field string) {
	e := &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": string(code)}}
	if field != "" {
		e.Extensions["field"] = field
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(graphql.Response{Errors: gqlerror.List{e}})
}
