// Package e2e runs the four area services together, each in its own schema
// of a fresh database, over HTTP, with real relays, Redis Streams and
// consumers, to prove what holds between areas: consistency tokens,
// replicas and reactions.
package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/eventlog/testenv"
	"crm/services/appointments"
	"crm/services/campaigns"
	"crm/services/customers"
	"crm/services/kit"
	"crm/services/kit/kittest"
	"crm/services/relationships"
)

var areaNames = []string{"customers", "relationships", "appointments", "campaigns"}

type system struct {
	pool  *pgxpool.Pool
	areas map[string]*kit.Area
	urls  map[string]string
}

// start runs the four areas until the test ends.
func start(t *testing.T) *system {
	t.Helper()
	pool := testenv.Pool(t, testenv.Database(t))
	_, ns := testenv.Redis(t)
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	opt.PoolSize = 200 // every owned partition holds a connection while it waits
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })

	s := &system{pool: pool, areas: map[string]*kit.Area{}, urls: map[string]string{}}
	handlers := map[string]*atomic.Pointer[http.Handler]{}
	sources := map[string]consumer.LogSource{}
	for _, a := range areaNames {
		h := &atomic.Pointer[http.Handler]{}
		handlers[a] = h
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hh := h.Load(); hh != nil {
				(*hh).ServeHTTP(w, r)
				return
			}
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		s.urls[a] = srv.URL
		sources[a] = &eventlog.Client{BaseURL: srv.URL, Key: kittest.Key(), Subject: "e2e"}
	}
	cfg := kit.AreaConfig{Pool: pool, Redis: rdb, Namespace: ns, Sources: sources, ConsistencyWait: 10 * time.Second,
		ServiceKey: kittest.Key()}
	ctx := context.Background()
	opens := map[string]func(context.Context, kit.AreaConfig) (*kit.Area, error){
		"customers": customers.Open, "relationships": relationships.Open,
		"appointments": appointments.Open, "campaigns": campaigns.Open,
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, len(areaNames))
	for _, a := range areaNames {
		area, err := opens[a](ctx, cfg)
		if err != nil {
			cancel()
			t.Fatalf("open %s: %v", a, err)
		}
		s.areas[a] = area
		handlers[a].Store(&area.Handler)
		go func() {
			defer func() { done <- struct{}{} }()
			if err := area.Run(runCtx); err != nil {
				t.Errorf("%s stopped: %v", a, err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range areaNames {
			<-done
		}
		for _, a := range s.areas {
			a.Log.Close()
		}
	})
	return s
}

func (s *system) head(t *testing.T, area string) int64 {
	t.Helper()
	h, err := s.areas[area].Log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}
