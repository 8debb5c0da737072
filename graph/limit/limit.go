// Package limit holds the gateway's per-principal abuse controls: token
// buckets for mutations and for query cost (gqlgen's complexity), and caps
// on the WebSocket connections and subscriptions one principal holds in
// one gateway process. A refusal is a GraphQL error with code RATE_LIMITED
// and extensions.retryAfter in seconds; nothing is executed.
package limit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"crm/eventlog/errcode"
	"crm/graph/auth"
)

// Config sets the limits, per principal (token subject) and gateway
// process; a zero rate or cap means unlimited.
type Config struct {
	// Mutations per second (each root field of a mutation operation is
	// one command); bursts of twice that.
	Mutations float64
	// QueryPoints is the complexity (gqlgen's, as the complexity limit
	// counts it) of queries and subscriptions a principal may start per
	// second; bursts of twice that, and never less than one operation at
	// the complexity limit.
	QueryPoints float64
	// MaxSockets caps WebSocket connections; MaxSubscriptions caps
	// subscriptions over all of them.
	MaxSockets, MaxSubscriptions int
	// MaxComplexity is the gateway's complexity limit (the floor of the
	// query burst).
	MaxComplexity int
}

// Defaults are the limits of a gateway without configuration: far above
// what a person or a screen does, low enough that one script cannot
// starve everyone else.
var Defaults = Config{Mutations: 50, QueryPoints: 20000, MaxSockets: 50, MaxSubscriptions: 500}

// Limiter keeps the principals' buckets and counts.
type Limiter struct {
	cfg   Config
	mu    sync.Mutex
	users map[string]*user
	swept time.Time
	now   func() time.Time
}

type user struct {
	mutations, points *rate.Limiter
	sockets, subs     int
	seen              time.Time
}

// New returns a limiter for cfg.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg, users: map[string]*user{}, now: time.Now}
}

// idle is how long an unused principal's buckets are kept; a bucket idle
// that long is full again anyway.
const idle = 10 * time.Minute

func (l *Limiter) user(p *auth.Principal) *user {
	now := l.now()
	if now.Sub(l.swept) > time.Minute {
		for k, u := range l.users {
			if now.Sub(u.seen) > idle && u.sockets == 0 && u.subs == 0 {
				delete(l.users, k)
			}
		}
		l.swept = now
	}
	u := l.users[p.Subject]
	if u == nil {
		u = &user{mutations: bucket(l.cfg.Mutations, 0), points: bucket(l.cfg.QueryPoints, l.cfg.MaxComplexity)}
		l.users[p.Subject] = u
	}
	u.seen = now
	return u
}

func bucket(perSecond float64, floor int) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(int(math.Ceil(2*perSecond)), floor))
}

// Refused is the error of a refusal, retryAfter seconds from now.
func Refused(what string, retryAfter time.Duration) *gqlerror.Error {
	secs := math.Max(1, math.Ceil(retryAfter.Seconds()))
	return &gqlerror.Error{Message: fmt.Sprintf("too many %s; retry in %.0f s", what, secs),
		Extensions: map[string]any{"code": string(errcode.RateLimited), "retryAfter": secs}}
}

// take takes n tokens from b now, or says how long until it could.
func take(b *rate.Limiter, n int, now time.Time) (bool, time.Duration) {
	if n <= 0 {
		return true, 0
	}
	if n > b.Burst() && b.Limit() != rate.Inf {
		n = b.Burst() // more than a burst: take a whole burst
	}
	r := b.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Connect counts a WebSocket connection of p; release uncounts it.
func (l *Limiter) Connect(p *auth.Principal) (release func(), err *gqlerror.Error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.user(p)
	if l.cfg.MaxSockets > 0 && u.sockets >= l.cfg.MaxSockets {
		return nil, Refused(fmt.Sprintf("WebSocket connections (at most %d per user)", l.cfg.MaxSockets), time.Second)
	}
	u.sockets++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			u.sockets--
			l.mu.Unlock()
		})
	}, nil
}

// ExtensionName names the gqlgen extension.
func (l *Limiter) ExtensionName() string { return "PrincipalLimits" }

// Validate accepts any schema.
func (l *Limiter) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation charges an operation to its principal before it
// runs: a mutation one token per root field from the mutation bucket,
// a query or subscription its complexity from the points bucket, and a
// subscription one of the principal's subscriptions until it ends. An
// operation without a principal is left to the authorization rules.
func (l *Limiter) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	p := auth.FromContext(ctx)
	oc := graphql.GetOperationContext(ctx)
	if p == nil || oc == nil || oc.Operation == nil {
		return next(ctx)
	}
	now := l.now()
	l.mu.Lock()
	u := l.user(p)
	var refused *gqlerror.Error
	switch oc.Operation.Operation {
	case ast.Mutation:
		if ok, d := take(u.mutations, len(oc.Operation.SelectionSet), now); !ok {
			refused = Refused("mutations", d)
		}
	default:
		cost := 1
		if st := extension.GetComplexityStats(ctx); st != nil {
			cost = max(st.Complexity, 1)
		}
		if ok, d := take(u.points, cost, now); !ok {
			refused = Refused("queries (by cost)", d)
		} else if oc.Operation.Operation == ast.Subscription {
			if l.cfg.MaxSubscriptions > 0 && u.subs >= l.cfg.MaxSubscriptions {
				refused = Refused(fmt.Sprintf("subscriptions (at most %d per user)", l.cfg.MaxSubscriptions), time.Second)
			} else {
				u.subs++
				context.AfterFunc(ctx, func() {
					l.mu.Lock()
					u.subs--
					l.mu.Unlock()
				})
			}
		}
	}
	l.mu.Unlock()
	if refused != nil {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{refused}})
	}
	return next(ctx)
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = (*Limiter)(nil)
