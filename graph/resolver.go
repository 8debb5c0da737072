package graph

import (
	"time"

	"crm/graph/readstore"
)

// Resolver is the root of the gateway's resolvers: what they share. Query
// resolvers read only the read store, nested fields only through the
// per-response loaders (see readstore.Loaders).
type Resolver struct {
	// Store reads the read models.
	Store *readstore.Store
	// LoaderWait is how long loaders collect keys; 0 means the default.
	LoaderWait time.Duration
}
