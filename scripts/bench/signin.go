package main

import (
	"context"
	"encoding/json"
	"sync"

	"crm/graph/auth"
)

// The bench signs in as the development issuer's admin, as a script would:
// a token per crm dev process, asked once from its /dev/token. A
// `crm gateway` started beside a crm dev trusts that dev's issuer, so it
// shares the dev's token (sameIssuer).
var tokens struct {
	sync.Mutex
	byBase map[string]string
	alias  map[string]string
}

// unlimited lifts the gateway's per-user limits: the bench's clients all
// sign in as one admin, and it measures the pipeline, not the limits (whose
// code still runs, with infinite buckets).
var unlimited = []string{"CRM_RATE_MUTATIONS=off", "CRM_RATE_QUERY_POINTS=off", "CRM_MAX_SOCKETS_PER_USER=off", "CRM_MAX_SUBSCRIPTIONS_PER_USER=off"}

// sameIssuer makes gw's requests carry dev's token.
func sameIssuer(gw, dev string) {
	tokens.Lock()
	defer tokens.Unlock()
	if tokens.alias == nil {
		tokens.alias = map[string]string{}
	}
	tokens.alias[gw] = dev
}

// token is the admin's bearer token for the gateway at base.
func token(ctx context.Context, base string) (string, error) {
	tokens.Lock()
	defer tokens.Unlock()
	if a, ok := tokens.alias[base]; ok {
		base = a
	}
	if t, ok := tokens.byBase[base]; ok {
		return t, nil
	}
	t, err := auth.DevToken(ctx, gwHTTP, base, "admin")
	if err != nil {
		return "", err
	}
	if tokens.byBase == nil {
		tokens.byBase = map[string]string{}
	}
	tokens.byBase[base] = t
	return t, nil
}

// connectionInit is a graphql-transport-ws connection_init carrying the
// admin's token for the gateway at base, and a correlation id.
func connectionInit(ctx context.Context, base, correlationID string) ([]byte, error) {
	t, err := token(ctx, base)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"type": "connection_init",
		"payload": map[string]string{"authorization": "Bearer " + t, "correlationId": correlationID}})
}
