package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"crm/eventlog/errcode"
	"crm/graph/access"
	"crm/graph/model"
)

// target names the rows a command acts on, for guard: a command of a
// sales or manager principal must name rows of its scope.
type target struct {
	customer, appointment, deal string
	// salesperson: the one a new appointment is for.
	salesperson string
}

func onCustomer(id string) target    { return target{customer: id} }
func onAppointment(id string) target { return target{appointment: id} }
func onDeal(id string) target        { return target{deal: id} }

// guard checks, before a command is sent, that the caller may run the
// mutation being resolved (access.Operations; the operation check did so
// already, this holds for every path) and that the rows t names are in its
// scope, as the read model has them now. A row it does not see, or one
// that does not exist, is FORBIDDEN: a scoped caller learns nothing of
// rows outside its scope. For a scope that sees every row of a kind
// nothing is read: the service answers NOT_FOUND for an unknown one.
func (r *Resolver) guard(ctx context.Context, t target) error {
	s := access.From(ctx)
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		if err := s.Allow("Mutation." + fc.Field.Name); err != nil {
			return err
		}
	} else if s == nil {
		return access.Forbidden("commands without a principal")
	}
	if t.customer != "" && s.Customers() != access.Every {
		if err := visible(ctx, "customer "+t.customer, t.customer, r.Store.CustomersByID); err != nil {
			return err
		}
	}
	if t.appointment != "" && s.Appointments() != access.Every {
		if err := visible(ctx, "appointment "+t.appointment, t.appointment, r.Store.AppointmentsByID); err != nil {
			return err
		}
	}
	if t.deal != "" && s.Deals() != access.Every {
		if err := visible(ctx, "deal "+t.deal, t.deal, r.Store.DealsByID); err != nil {
			return err
		}
	}
	if t.salesperson != "" && s.Appointments() != access.Every && !s.InTeam(t.salesperson) {
		return access.Forbidden("appointments of salesperson " + t.salesperson)
	}
	return nil
}

// visible is FORBIDDEN unless the caller's scope sees the row id.
func visible[T any](ctx context.Context, what, id string, byID func(context.Context, []string) ([]*T, error)) error {
	if access.From(ctx).Role() == "" {
		return access.Forbidden(what)
	}
	got, err := byID(ctx, []string{id})
	if err != nil {
		return errcode.Wrap(errcode.Unavailable, err, "the read side is unavailable")
	}
	if len(got) == 0 || got[0] == nil {
		return access.Forbidden(what)
	}
	return nil
}

// The subscriptions' visibility: each takes a row read for every
// subscriber of a change and answers the subscriber's copy, or nil when
// its scope does not see the row as committed.

func seesCustomer(ctx context.Context, c *model.Customer) (*model.Customer, error) {
	s := access.From(ctx)
	if !s.SeesCustomer(c.SalesRepID, c.ManagerID) {
		return nil, nil
	}
	if !s.Personal() { // the operation check refused selecting them; a second line
		cp := *c
		cp.Email, cp.Phone, cp.Address = "", nil, nil
		return &cp, nil
	}
	return c, nil
}

func seesAppointment(ctx context.Context, a *model.Appointment) (*model.Appointment, error) {
	if !access.From(ctx).SeesAppointment(a.SalespersonID) {
		return nil, nil
	}
	return a, nil
}

// seesDeal: a scoped subscriber sees a deal whose customer it sees, which
// it reads (one statement per push, only for scoped subscribers).
func (r *Resolver) seesDeal(ctx context.Context, d *model.Deal) (*model.Deal, error) {
	switch access.From(ctx).Deals() {
	case access.Every:
		return d, nil
	case access.None:
		return nil, nil
	}
	got, err := r.Store.CustomersByID(ctx, []string{d.CustomerID})
	if err != nil || len(got) == 0 || got[0] == nil {
		return nil, err
	}
	return d, nil
}
