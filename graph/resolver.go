package graph

import (
	"context"
	"sync"
	"time"

	"crm/graph/feed"
	"crm/graph/live"
	"crm/graph/readstore"
	"crm/graph/svc"
	"crm/projector"
)

// Resolver is the root of the gateway's resolvers: what they share. Query
// resolvers read only the read store, nested fields only through the
// per-response loaders (see readstore.Loaders).
type Resolver struct {
	// Store reads the read models.
	Store *readstore.Store
	// LoaderWait is how long loaders collect keys; 0 means the default.
	LoaderWait time.Duration

	// Commands sends mutations to the area services.
	Commands *svc.Client
	// Applied waits until projection has applied area's log up to
	// position for one partition (the read-your-writes wait).
	Applied func(ctx context.Context, projection, area string, partition int, position int64) error
	// Partitions of the areas' logs (default 8).
	Partitions int
	// ConsistencyTimeout bounds the read-your-writes wait (default 5s).
	ConsistencyTimeout time.Duration
	// Hub delivers the projector's changes to subscriptions.
	Hub *live.Hub
	// Feed serves the eventRecorded subscription (nil: UNAVAILABLE).
	Feed *feed.Feed
	// Status reports the projections (the projections query).
	Status func(ctx context.Context) ([]projector.ProjectionStatus, error)

	sharedOnce sync.Once
	sharedRows *live.Shared
}

// shared is the process's cache of pushed rows (see live.Shared).
func (r *Resolver) sharedCache() *live.Shared {
	r.sharedOnce.Do(func() { r.sharedRows = live.NewShared() })
	return r.sharedRows
}
