// Package access is the gateway's authorization: what each role may do
// (Operations, a table of role × operation) and which rows it may see
// (Scope, whose predicates the read store puts into its SQL, so that pages,
// totalCount and cursors count only visible rows). docs/access.md explains
// the rules and the decisions behind them.
//
// Authentication is not here: graph/auth verifies callers and carries the
// *auth.Principal in the context; this package decides what it may do.
package access

import (
	"context"
	"slices"

	"crm/eventlog/errcode"
	"crm/graph/auth"
)

// Rows is how much of one kind of row a role sees.
type Rows uint8

// The row grants.
const (
	// None: no row of the kind.
	None Rows = iota
	// Own: the principal's own rows (see Scope).
	Own
	// Every: all rows.
	Every
)

// grant is a role's view of the data: its rows of each kind, whether it
// sees customers' personal data (email, phone, address), and which areas'
// events it may read whole (the others by the rows their streams are).
type grant struct {
	customers, appointments, deals Rows
	personal                       bool
}

// grants is the row half of the rules: per role, what it sees. Own rows:
// customers whose account team has the principal (or, for a manager, a
// salesperson they manage) as sales rep, or the principal as manager;
// appointments whose salesperson is the principal (or one they manage);
// deals of the customers they see.
var grants = map[auth.Role]grant{
	auth.Admin:     {customers: Every, appointments: Every, deals: Every, personal: true},
	auth.Manager:   {customers: Own, appointments: Own, deals: Own, personal: true},
	auth.Sales:     {customers: Own, appointments: Own, deals: Own, personal: true},
	auth.Marketing: {customers: Every, appointments: None, deals: Every},
	auth.Viewer:    {customers: Every, appointments: Every, deals: Every},
}

// PersonalFields are the fields of Customer that hold personal data: only
// a role that sees personal data may select them (see Personal).
var PersonalFields = []string{"email", "phone", "address"}

// Scope is what one principal may see, fixed for one operation (a query, a
// mutation, a subscription's lifetime). A nil *Scope sees nothing.
type Scope struct {
	role                           auth.Role
	subject                        string
	customers, appointments, deals Rows
	personal                       bool
	// me is the principal's salesperson id; team is me and the
	// salespeople me manages (for a manager).
	me   string
	team []string
}

// Team looks up the salespeople whose manager is managerID (the read
// model's salespeople.manager_id).
type Team func(ctx context.Context, managerID string) ([]string, error)

// Resolve returns p's scope. For a manager it reads the salespeople they
// manage through team, once. A sales or manager principal without a
// SalespersonID owns no rows. Errors: FORBIDDEN for a role this package
// does not know; what team returns.
func Resolve(ctx context.Context, p *auth.Principal, team Team) (*Scope, error) {
	if p == nil {
		return nil, errcode.New(errcode.Unauthenticated, "sign in first")
	}
	g, ok := grants[p.Role]
	if !ok {
		return nil, errcode.New(errcode.Forbidden, "unknown role")
	}
	s := &Scope{role: p.Role, subject: p.Subject, customers: g.customers, appointments: g.appointments,
		deals: g.deals, personal: g.personal, me: p.SalespersonID}
	if s.me != "" {
		s.team = []string{s.me}
		if p.Role == auth.Manager && team != nil {
			managed, err := team(ctx, s.me)
			if err != nil {
				return nil, err
			}
			s.team = append(s.team, managed...)
		}
	}
	return s, nil
}

// Everything is the scope of the gateway's own reads on behalf of many
// subscribers at once (a row shared by the pushes of one change): it
// sees every row, and each subscriber's scope is applied to what it read.
func Everything() *Scope {
	return &Scope{role: auth.Admin, subject: "system", customers: Every, appointments: Every, deals: Every, personal: true}
}

type scopeKey struct{}

// WithScope returns ctx carrying s.
func WithScope(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// From returns the scope ctx carries; nil (which sees nothing) when none.
func From(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// Role is the scope's role ("" for a nil scope).
func (s *Scope) Role() auth.Role {
	if s == nil {
		return ""
	}
	return s.role
}

// Personal reports whether s sees customers' personal data.
func (s *Scope) Personal() bool { return s != nil && s.personal }

// Actor reports whether s sees who caused an event (Event.actor).
func (s *Scope) Actor() bool { return s != nil && s.role == auth.Admin }

// Customers, Appointments and Deals are the row grants of s.
func (s *Scope) Customers() Rows {
	if s == nil {
		return None
	}
	return s.customers
}

// Appointments is s's grant on appointments.
func (s *Scope) Appointments() Rows {
	if s == nil {
		return None
	}
	return s.appointments
}

// Deals is s's grant on deals.
func (s *Scope) Deals() Rows {
	if s == nil {
		return None
	}
	return s.deals
}

// SeesCustomer reports whether s sees a customer row whose account team is
// salesRepID and managerID: the Go twin of CustomerRows, for rows already
// read (subscription pushes).
func (s *Scope) SeesCustomer(salesRepID, managerID *string) bool {
	switch s.Customers() {
	case Every:
		return true
	case Own:
		return salesRepID != nil && slices.Contains(s.team, *salesRepID) ||
			s.me != "" && managerID != nil && *managerID == s.me
	}
	return false
}

// SeesAppointment reports whether s sees an appointment of salespersonID:
// the Go twin of AppointmentRows.
func (s *Scope) SeesAppointment(salespersonID string) bool {
	switch s.Appointments() {
	case Every:
		return true
	case Own:
		return slices.Contains(s.team, salespersonID)
	}
	return false
}

// InTeam reports whether salespersonID is the principal or one they
// manage (a sales or manager principal may schedule only for those).
func (s *Scope) InTeam(salespersonID string) bool {
	return s != nil && slices.Contains(s.team, salespersonID)
}

// HiddenAreas are the areas whose events s never sees: those whose data
// holds what s may not see (customers: personal data; appointments for a
// role without appointments).
func (s *Scope) HiddenAreas() []string {
	var out []string
	if !s.Personal() {
		out = append(out, "customers")
	}
	if s.Appointments() == None {
		out = append(out, "appointments")
	}
	return out
}

// StreamRows reports whether the visibility of an event of area depends on
// its stream's row (Own scopes, for the rows the stream is): then the
// gateway looks the stream up in the read model with s.
func (s *Scope) StreamRows() bool {
	return s.Customers() == Own || s.Appointments() == Own || s.Deals() == Own
}

// Forbidden is the error of an operation, field or command the principal
// may not use (FORBIDDEN). It says what, never why in terms of data.
func Forbidden(what string) error {
	return errcode.New(errcode.Forbidden, "not allowed: %s", what)
}

// Unauthenticated is the error of a request without a verified principal.
var Unauthenticated = errcode.New(errcode.Unauthenticated, "sign in first")
