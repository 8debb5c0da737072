package graph

import (
	"context"
	"strings"

	"crm/eventlog/errcode"
	"crm/graph/feed"
	"crm/graph/model"
	"crm/graph/readstore"
)

// loaders returns the response's loaders. Without any in ctx (a caller that
// bypassed the handler's middleware) it makes a fresh set: correct, only
// not batched across fields.
func (r *Resolver) loaders(ctx context.Context) *readstore.Loaders {
	if l := readstore.LoadersFrom(ctx); l != nil {
		return l
	}
	return readstore.NewLoaders(r.Store, r.LoaderWait)
}

// node loads any entity by id, telling its type by the id's prefix; an
// unknown prefix or a missing row is nil.
func (r *Resolver) node(ctx context.Context, id string) (model.Node, error) {
	prefix, _, _ := strings.Cut(id, "_")
	l := r.loaders(ctx)
	switch prefix {
	case "cus":
		c, err := l.Customer.Load(ctx, id)
		return nilNode(r.filled(ctx, c, err))
	case "sp":
		return nilNode(l.Salesperson.Load(ctx, id))
	case "apt":
		return nilNode(l.Appointment.Load(ctx, id))
	case "cmp":
		return nilNode(l.Campaign.Load(ctx, id))
	case "deal":
		return nilNode(l.Deal.Load(ctx, id))
	}
	return nil, nil
}

// nilNode keeps a typed nil pointer from becoming a non-nil interface.
func nilNode[T interface {
	model.Node
	comparable
}](v T, err error) (model.Node, error) {
	var zero T
	if err != nil || v == zero {
		return nil, err
	}
	return v, nil
}

// optional loads through load when id is set; nil otherwise.
func optional[T any](ctx context.Context, id *string, load func(context.Context, string) (*T, error)) (*T, error) {
	if id == nil || *id == "" {
		return nil, nil
	}
	return load(ctx, *id)
}

// required loads an entity a non-null field needs. A row the read side has
// not made visible yet (areas project in any order) is NOT_FOUND on that
// field rather than an internal error.
func required[T any](ctx context.Context, kind, id string, load func(context.Context, string) (*T, error)) (*T, error) {
	v, err := load(ctx, id)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errcode.New(errcode.NotFound, "%s %s is not visible yet", kind, id)
	}
	return v, nil
}

func pageInfo(more bool, last string) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: more}
	if last != "" {
		pi.EndCursor = &last
	}
	return pi
}

// customerConnection builds a page; count runs only if totalCount is asked.
func (r *Resolver) customerConnection(ctx context.Context, items []*model.Customer, more bool,
	count func(context.Context) (int, error)) *model.CustomerConnection {
	l := r.loaders(ctx)
	c := &model.CustomerConnection{Edges: make([]*model.CustomerEdge, len(items)), Count: count}
	last := ""
	for i, it := range items {
		last = readstore.SeqCursor(it.Seq)
		c.Edges[i] = &model.CustomerEdge{Cursor: last, Node: it}
		l.Customer.Prime(it.ID, it)
	}
	c.PageInfo = pageInfo(more, last)
	return c
}

func (r *Resolver) appointmentConnection(ctx context.Context, items []*model.Appointment, more bool,
	count func(context.Context) (int, error)) *model.AppointmentConnection {
	l := r.loaders(ctx)
	c := &model.AppointmentConnection{Edges: make([]*model.AppointmentEdge, len(items)), Count: count}
	last := ""
	for i, it := range items {
		last = readstore.SeqCursor(it.Seq)
		c.Edges[i] = &model.AppointmentEdge{Cursor: last, Node: it}
		l.Appointment.Prime(it.ID, it)
	}
	prefetchAppointments(ctx, l, items)
	c.PageInfo = pageInfo(more, last)
	return c
}

// maxFilterText caps the text filters of customers, so that a client
// cannot make the database match a pattern the size of a request body.
const maxFilterText = 200

// customers answers a customer connection of q.
func (r *Resolver) customers(ctx context.Context, q readstore.CustomerQuery, first *int, after *string) (*model.CustomerConnection, error) {
	p, err := readstore.ParsePage(first, after)
	if err != nil {
		return nil, err
	}
	for field, v := range map[string]*string{"search": q.Search, "interest": q.Interest} {
		if v != nil && len(*v) > maxFilterText {
			return nil, errcode.Invalid(field, "%s must be at most %d bytes", field, maxFilterText)
		}
	}
	items, more, err := r.Store.Customers(ctx, q, p)
	if err != nil {
		return nil, err
	}
	return r.fillPage(ctx, r.customerConnection(ctx, items, more, func(ctx context.Context) (int, error) {
		return r.Store.CountCustomers(ctx, q)
	}))
}

// appointments answers an appointment connection of q.
func (r *Resolver) appointments(ctx context.Context, q readstore.AppointmentQuery, first *int, after *string) (*model.AppointmentConnection, error) {
	p, err := readstore.ParsePage(first, after)
	if err != nil {
		return nil, err
	}
	items, more, err := r.Store.Appointments(ctx, q, p)
	if err != nil {
		return nil, err
	}
	return r.appointmentConnection(ctx, items, more, func(ctx context.Context) (int, error) {
		return r.Store.CountAppointments(ctx, q)
	}), nil
}

// customerAppointments serves Customer.appointments: the first page of
// every customer in a list through one batched statement, later pages
// directly.
func (r *Resolver) customerAppointments(ctx context.Context, c *model.Customer, first *int, after *string) (*model.AppointmentConnection, error) {
	if after != nil {
		return r.appointments(ctx, readstore.AppointmentQuery{CustomerID: &c.ID}, first, after)
	}
	n, err := readstore.ParseFirst(first)
	if err != nil {
		return nil, err
	}
	pg, err := r.loaders(ctx).Appointments.Load(ctx, readstore.AppointmentsKey{CustomerID: c.ID, First: n})
	if err != nil {
		return nil, err
	}
	total := pg.Total
	return r.appointmentConnection(ctx, pg.Items, pg.HasNext, func(context.Context) (int, error) { return total, nil }), nil
}

// history serves Customer.history.
func (r *Resolver) history(ctx context.Context, streamID string, first *int, after *string) (*model.EventConnection, error) {
	n, err := readstore.ParseFirst(first)
	if err != nil {
		return nil, err
	}
	items, more, err := r.Store.History(ctx, streamID, n, after)
	if err != nil {
		return nil, err
	}
	c := &model.EventConnection{Edges: make([]*model.EventEdge, len(items))}
	last := ""
	for i, e := range items {
		last = readstore.EventCursor(e)
		e.Cursor = feed.Position{e.AreaName: e.PositionNum}.Encode()
		c.Edges[i] = &model.EventEdge{Cursor: last, Node: e}
	}
	c.PageInfo = pageInfo(more, last)
	return c, nil
}

func customerQuery(f *model.CustomerFilter) readstore.CustomerQuery {
	if f == nil {
		return readstore.CustomerQuery{}
	}
	return readstore.CustomerQuery{Search: f.Search, Status: f.Status, SalesRepID: f.SalesRepID, Interest: f.Interest}
}

func appointmentQuery(f *model.AppointmentFilter) readstore.AppointmentQuery {
	if f == nil {
		return readstore.AppointmentQuery{}
	}
	return readstore.AppointmentQuery{CustomerID: f.CustomerID, SalespersonID: f.SalespersonID, Status: f.Status, From: f.From, To: f.To}
}
