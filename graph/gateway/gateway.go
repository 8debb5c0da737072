// Package gateway assembles the GraphQL gateway: the read store, the
// service client, the read-your-writes wait, the subscription hub, the
// WebSocket transport and the HTTP endpoints.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"crm/eventlog/consumer"
	"crm/eventlog/svcauth"
	"crm/graph"
	"crm/graph/auth"
	"crm/graph/console"
	"crm/graph/feed"
	"crm/graph/limit"
	"crm/graph/live"
	"crm/graph/readstore"
	"crm/graph/server"
	"crm/graph/svc"
	"crm/projector"
)

// Config configures a gateway.
type Config struct {
	ReadPool  *pgxpool.Pool // the read database
	Schema    string        // the read models' schema (default "read")
	Redis     redis.UniversalClient
	Namespace string
	// ServiceURLs are the area services' base URLs; HTTPClient (optional)
	// reaches them (crm dev passes an in-process transport).
	ServiceURLs map[string]string
	HTTPClient  *http.Client
	// ServiceKey signs the service credential of every command (its
	// subject: the verified caller); required to send commands.
	ServiceKey *svcauth.Key
	// Heads read each area's log head, for the projections' lag.
	Heads map[string]projector.HeadReader
	// AllowedOrigins are the host patterns (coder/websocket syntax, e.g.
	// "localhost:*") whose pages may open subscriptions; same-origin is
	// always allowed.
	AllowedOrigins []string
	// Introspection enables __schema (GraphiQL needs it); default on.
	DisableIntrospection bool
	// ConsistencyTimeout bounds a mutation's read-your-writes wait.
	ConsistencyTimeout time.Duration
	// FeedBuffer is how many events an event feed subscriber may be behind
	// before it is ended with SLOW_CONSUMER (feed.Config.Buffer; 0: its
	// default).
	FeedBuffer int
	// Auth verifies the callers' bearer tokens (required): every GraphQL
	// request over HTTP, and every WebSocket's connection_init.
	Auth auth.Authenticator
	// Dev, when set, is the development issuer's handler, served under
	// auth.DevPath (crm dev only).
	Dev http.Handler
	// Console are the console's settings (how its users sign in).
	Console console.Settings
	// NoGraphiQL and NoMetrics leave "/" and /metrics unserved (Gateway's
	// Metrics serves the latter on an admin listener); AllowedHosts are
	// the Host names the gateway answers for (server.Config).
	NoGraphiQL, NoMetrics bool
	// Limits are the per-principal abuse controls (limit.Config; its
	// MaxComplexity is set from the handler's complexity limit).
	Limits       limit.Config
	AllowedHosts []string
	Logger       *slog.Logger
	// Collectors are served at /metrics beside the gateway's own (crm
	// passes its process's database call counters).
	Collectors []prometheus.Collector
}

// Gateway is an assembled gateway.
type Gateway struct {
	Handler http.Handler
	// Metrics serves the gateway's metrics (also at /metrics unless
	// Config.NoMetrics).
	Metrics http.Handler
	Hub     *live.Hub
	Feed    *feed.Feed
}

// New assembles a gateway; Run must run for subscriptions to be pushed.
func New(cfg Config) (*Gateway, error) {
	if cfg.Schema == "" {
		cfg.Schema = "read"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadPool == nil || cfg.Redis == nil || cfg.Auth == nil {
		return nil, errors.New("gateway: ReadPool, Redis and Auth are required")
	}
	store, err := readstore.New(readstore.Config{DB: cfg.ReadPool, Schema: cfg.Schema})
	if err != nil {
		return nil, err
	}
	hub := live.NewHub(cfg.Redis, projector.ChannelName(cfg.Namespace), cfg.Logger)
	events := projector.Events{}.Name()
	fd, err := feed.New(feed.Config{Reader: store, Buffer: cfg.FeedBuffer, Logger: cfg.Logger,
		Announced: func() <-chan struct{} { return hub.Announced(events) }})
	if err != nil {
		return nil, err
	}
	res := &graph.Resolver{
		Store:              store,
		Commands:           svc.New(cfg.ServiceURLs, cfg.HTTPClient, cfg.ServiceKey),
		ConsistencyTimeout: cfg.ConsistencyTimeout,
		Hub:                hub,
		Feed:               fd,
		Applied: func(ctx context.Context, projection, area string, partition int, position int64) error {
			w := consumer.Waiter{Pool: cfg.ReadPool, Schema: cfg.Schema, Name: projector.ConsumerName(projection),
				Area: area, Redis: cfg.Redis, Namespace: cfg.Namespace}
			// The projector's announcement usually settles the wait; the
			// checkpoint is read only when none comes quickly.
			return hub.WaitApplied(ctx, live.Partition{Projection: projection, Area: area, Partition: partition},
				position, 40*time.Millisecond, func(ctx context.Context) (bool, error) {
					return w.Applied(ctx, partition, position)
				})
		},
		Status: func(ctx context.Context) ([]projector.ProjectionStatus, error) {
			rebuilding, err := projector.RebuildsInProgress(ctx, cfg.ReadPool, cfg.Schema)
			if err != nil {
				return nil, err
			}
			return projector.Status(ctx, cfg.ReadPool, cfg.Schema, projector.StatusOptions{Heads: cfg.Heads,
				Rebuilding: func(name string) bool { return rebuilding[name] }}, projector.All()...)
		},
	}
	cfg.Limits.MaxComplexity = graph.DefaultComplexityLimit
	limits := limit.New(cfg.Limits)
	ws := transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{
			OriginPatterns: cfg.AllowedOrigins}},
		KeepAlivePingInterval: 15 * time.Second, // legacy graphql-ws
		PingPongInterval:      15 * time.Second, // graphql-transport-ws
		InitTimeout:           10 * time.Second,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			// The token comes in the payload (browsers cannot set headers
			// on a WebSocket); a correlation id in it tags the
			// connection's operations.
			ctx, err := auth.WebsocketInit(cfg.Auth, ctx, p)
			if err != nil {
				return ctx, nil, err
			}
			release, refused := limits.Connect(auth.FromContext(ctx))
			if refused != nil {
				ctx = transport.WithWebsocketCloseCode(ctx, CloseTooManyConnections)
				return transport.AppendCloseReason(ctx, "too many connections"), nil, refused
			}
			ctx = context.WithValue(ctx, releaseKey{}, release)
			if id := p.GetString("correlationId"); id != "" {
				ctx = graph.WithCorrelationID(ctx, id)
			}
			return ctx, nil, nil
		},
		CloseFunc: func(ctx context.Context, _ int) {
			auth.WebsocketClose(ctx)
			if release, ok := ctx.Value(releaseKey{}).(func()); ok {
				release()
			}
		},
	}
	srv, err := graph.NewServer(graph.Config{Resolver: res, Logger: cfg.Logger, Introspection: !cfg.DisableIntrospection,
		Transports: []graphql.Transport{ws}})
	if err != nil {
		return nil, err
	}
	srv.Use(limits)
	// Authentication comes before the body is read: an anonymous caller
	// cannot make the gateway buffer a megabyte.
	gql := deadlines(correlate(auth.Middleware(cfg.Auth, graph.LimitBody(srv, 1<<20))))
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crm_subscriptions",
		Help: "Open GraphQL subscriptions of this gateway."}, func() float64 { return float64(hub.Subscribers() + fd.Subscribers()) }))
	reg.MustRegister(&lagCollector{status: res.Status})
	reg.MustRegister(cfg.Collectors...)
	h := server.New(server.Config{GraphQL: gql, Dev: cfg.Dev, Console: cfg.Console, Registry: reg, NoGraphiQL: cfg.NoGraphiQL, NoMetrics: cfg.NoMetrics,
		AllowedHosts: cfg.AllowedHosts, Ready: func(ctx context.Context) error {
			if err := cfg.ReadPool.Ping(ctx); err != nil {
				return errors.New("read database: " + err.Error())
			}
			if err := cfg.Redis.Ping(ctx).Err(); err != nil {
				return errors.New("redis: " + err.Error())
			}
			return nil
		}})
	return &Gateway{Handler: h, Metrics: server.Metrics(reg), Hub: hub, Feed: fd}, nil
}

// Run follows the projector's announcements and tails the event feed
// until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.Feed.Run(ctx)
	}()
	err := g.Hub.Run(ctx)
	wg.Wait()
	return err
}

// CloseTooManyConnections closes a WebSocket whose principal holds too
// many already (after connection_error with code RATE_LIMITED).
const CloseTooManyConnections = 4429

type releaseKey struct{}

// Deadlines of a plain HTTP request to /graphql: to send its body, and to
// be answered. Server-wide timeouts would cut WebSockets too, which outlive
// any request; those have gqlgen's pings and the token's expiry instead.
const (
	requestReadTimeout  = 30 * time.Second
	requestWriteTimeout = 60 * time.Second
)

// deadlines sets the request's read and write deadlines on its connection,
// and clears the write deadline when the handler is done (net/http resets
// the read deadline for the connection's next request, not the write one).
func deadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth.IsWebSocket(r) {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetReadDeadline(now.Add(requestReadTimeout))
		_ = rc.SetWriteDeadline(now.Add(requestWriteTimeout))
		defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
		next.ServeHTTP(w, r)
	})
}

// correlate gives each request a correlation id (the client's
// X-Correlation-Id, or a new one), carried to the commands it sends.
func correlate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Correlation-Id")
		if id == "" || len(id) > 200 {
			id = uuid.NewString()
		}
		w.Header().Set("X-Correlation-Id", id)
		next.ServeHTTP(w, r.WithContext(graph.WithCorrelationID(r.Context(), id)))
	})
}

// lagCollector exports each projection's lag and dead letters at scrape.
type lagCollector struct {
	status func(ctx context.Context) ([]projector.ProjectionStatus, error)
}

var (
	lagDesc  = prometheus.NewDesc("crm_projection_lag_events", "Events appended but not yet applied, per projection.", []string{"projection"}, nil)
	deadDesc = prometheus.NewDesc("crm_projection_dead_letters", "Events parked as dead letters, per projection.", []string{"projection"}, nil)
)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc; ch <- deadDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		return
	}
	for _, s := range st {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(s.Lag), s.Name)
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(s.DeadLettered), s.Name)
	}
}
