package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"crm/eventlog/errcode"
)

// Authenticator turns a raw bearer token into a principal (*Verifier).
type Authenticator interface {
	Verify(ctx context.Context, raw string) (*Principal, error)
}

// Bearer returns the token of an "Authorization: Bearer ..." value ("" when
// it is not one).
func Bearer(header string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// IsWebSocket reports whether r asks to upgrade to a WebSocket.
func IsWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Middleware authenticates every request but WebSocket upgrades (those
// authenticate in connection_init, see WebsocketInit): a missing or refused
// bearer token is answered 401 with a GraphQL error whose code is
// UNAUTHENTICATED, and next never runs.
func Middleware(a Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWebSocket(r) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.Verify(r.Context(), Bearer(r.Header.Get("Authorization")))
		if err != nil {
			Unauthorized(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Unauthorized answers 401 with a GraphQL error UNAUTHENTICATED saying why.
func Unauthorized(w http.ResponseWriter, err error) {
	msg := "authentication required"
	var ae *Error
	if errors.As(err, &ae) {
		msg = ae.Reason
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message": msg, "extensions": map[string]any{"code": string(errcode.Unauthenticated)}}}})
}

// CloseForbidden is the WebSocket close code of a refused connection_init
// (graphql-transport-ws's 4403 Forbidden; the legacy protocol gets it too).
const CloseForbidden = 4403

type cancelKey struct{}

// WebsocketInit authenticates a WebSocket connection from the
// "authorization" of its connection_init payload ("Bearer ..."). A refused
// token closes the socket with 4403 and no connection_ack. An accepted one
// puts the principal in the connection's context, which ends when the token
// expires: gqlgen then closes the socket (its close reason says the token
// expired) and the client reconnects with a fresh token. Pair it with
// WebsocketClose, which releases the expiry timer.
func WebsocketInit(a Authenticator, ctx context.Context, p transport.InitPayload) (context.Context, error) {
	pr, err := a.Verify(ctx, Bearer(p.Authorization()))
	if err != nil {
		ctx = transport.WithWebsocketCloseCode(ctx, CloseForbidden)
		ctx = transport.AppendCloseReason(ctx, "Forbidden")
		return ctx, err
	}
	ctx = WithPrincipal(ctx, pr)
	if !pr.Expiry.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, pr.Expiry)
		ctx = context.WithValue(ctx, cancelKey{}, cancel)
		ctx = transport.AppendCloseReason(ctx, "the token has expired; reconnect with a new one")
	}
	return ctx, nil
}

// WebsocketClose releases what WebsocketInit set up for a connection.
func WebsocketClose(ctx context.Context) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}
