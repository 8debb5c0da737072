// Package auth authenticates the gateway's callers: it verifies OpenID
// Connect / JWT bearer tokens (Verifier), runs the development issuer of
// `crm dev` (DevIssuer), and carries the verified caller (Principal) in the
// request's context. What a principal may do is decided by graph/access.
package auth

import (
	"context"
	"time"
)

// Role is what a principal may do in the CRM (graph/access has the rules).
type Role string

// The roles. A manager is a salesperson who manages others; sales and
// manager principals are linked to their salesperson id.
const (
	Admin     Role = "admin"
	Manager   Role = "manager"
	Sales     Role = "sales"
	Marketing Role = "marketing"
	Viewer    Role = "viewer"
)

// Roles lists every role.
var Roles = []Role{Admin, Manager, Sales, Marketing, Viewer}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// Principal is a verified caller.
type Principal struct {
	// Subject is the token's sub: the actor recorded in the events the
	// caller's commands write.
	Subject string
	Name    string
	Role    Role
	// SalespersonID links sales and manager principals to their
	// salesperson (empty for the other roles).
	SalespersonID string
	// Expiry is when the token stops being valid (zero: never, for
	// principals made in-process).
	Expiry time.Time
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
