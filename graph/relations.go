package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"crm/graph/model"
	"crm/graph/readstore"
)

// A customer's salesRep, manager, nextAppointment and deals are plain
// fields of model.Customer, not resolvers: gqlgen runs each resolver field
// of each object in a goroutine of its own, which made them the larger part
// of a page's cost. Instead, whatever returns customers (a page, one
// customer, a mutation's result, a subscription push) fills them in for
// the fields its selection asks for, with fillCustomers: a page reads them
// in one round trip (pageRelations), a single customer through the
// response's loaders, so that sibling resolvers (each appointment's
// customer...) still share one batch per relation. Every resolver that
// returns customers ends in fillPage or filled; TestRelationsOnEveryPath
// holds them to it.

// customerTypes are the type conditions a customer's fields are selected
// under.
var customerTypes = []string{"Customer", "Node"}

// customerWants says which relations a selection of customer fields asks
// for.
type customerWants struct{ salesRep, manager, nextAppointment, deals bool }

func (w customerWants) any() bool { return w.salesRep || w.manager || w.nextAppointment || w.deals }

func wantsOf(f map[string]bool) customerWants {
	return customerWants{salesRep: f["salesRep"], manager: f["manager"], nextAppointment: f["nextAppointment"], deals: f["deals"]}
}

// selectedFields returns the names of the fields sel selects on a customer.
func selectedFields(ctx context.Context, sel ast.SelectionSet) map[string]bool {
	opCtx := graphql.GetOperationContext(ctx)
	out := map[string]bool{}
	for _, f := range graphql.CollectFields(opCtx, sel, customerTypes) {
		out[f.Name] = true
	}
	return out
}

// relationKeys gathers the keys of the relations w asks for of cs.
func relationKeys(w customerWants, cs []*model.Customer) readstore.RelationKeys {
	var people, appts, custs idSet
	for _, c := range cs {
		if c == nil {
			continue
		}
		if w.salesRep {
			people.add(c.SalesRepID)
		}
		if w.manager {
			people.add(c.ManagerID)
		}
		if w.nextAppointment {
			appts.add(c.NextAppointmentID)
		}
		if w.deals {
			custs.add(&c.ID)
		}
	}
	return readstore.RelationKeys{Salespeople: people.ids, Appointments: appts.ids, DealsOf: custs.ids}
}

// pageRelations reads the relations of a page in one round trip, and
// primes the response's loaders with the rows so that nested fields
// (a next appointment's salesperson...) find them.
func (r *Resolver) pageRelations(ctx context.Context, k readstore.RelationKeys) (*readstore.Relations, error) {
	rel, err := r.Store.CustomerRelations(ctx, k)
	if err != nil {
		return nil, err
	}
	l := r.loaders(ctx)
	for id, p := range rel.Salespeople {
		l.Salesperson.Prime(id, p)
	}
	for id, a := range rel.Appointments {
		l.Appointment.Prime(id, a)
	}
	return rel, nil
}

// loadedRelations reads the relations through the response's loaders, so
// that the customers sibling resolvers return one by one (each
// appointment's customer...) share a batch per relation.
func (r *Resolver) loadedRelations(ctx context.Context, k readstore.RelationKeys) (*readstore.Relations, error) {
	l := r.loaders(ctx)
	// Queue every batch before waiting on any, so that they run together.
	var peopleT func() ([]*model.Salesperson, error)
	var apptsT func() ([]*model.Appointment, error)
	var dealsT func() ([][]*model.Deal, error)
	if len(k.Salespeople) > 0 {
		peopleT = l.Salesperson.LoadAllThunk(ctx, k.Salespeople)
	}
	if len(k.Appointments) > 0 {
		apptsT = l.Appointment.LoadAllThunk(ctx, k.Appointments)
	}
	if len(k.DealsOf) > 0 {
		dealsT = l.DealsByCust.LoadAllThunk(ctx, k.DealsOf)
	}
	rel := &readstore.Relations{}
	var err error
	if rel.Salespeople, err = byKey(k.Salespeople, peopleT); err != nil {
		return nil, err
	}
	if rel.Appointments, err = byKey(k.Appointments, apptsT); err != nil {
		return nil, err
	}
	if rel.Deals, err = byKey(k.DealsOf, dealsT); err != nil {
		return nil, err
	}
	return rel, nil
}

// fillCustomers returns copies of cs (nil entries stay nil) with the
// relations w asks for filled from what read answers for their keys. The
// rows in cs are never written: loaders and the subscriptions' shared
// cache hand the same rows to several fields.
func fillCustomers(ctx context.Context, w customerWants, cs []*model.Customer,
	read func(context.Context, readstore.RelationKeys) (*readstore.Relations, error)) ([]*model.Customer, error) {
	if !w.any() || len(cs) == 0 {
		return cs, nil
	}
	rel, err := read(ctx, relationKeys(w, cs))
	if err != nil {
		return nil, err
	}
	if w.deals {
		lists := make([][]*model.Deal, 0, len(rel.Deals))
		for _, l := range rel.Deals {
			lists = append(lists, l)
		}
		if err := chargeDeals(ctx, lists); err != nil {
			return nil, err
		}
	}
	out := make([]*model.Customer, len(cs))
	for i, c := range cs {
		if c == nil {
			continue
		}
		cp := *c
		if w.salesRep {
			cp.SalesRep = lookup(rel.Salespeople, c.SalesRepID)
		}
		if w.manager {
			cp.Manager = lookup(rel.Salespeople, c.ManagerID)
		}
		if w.nextAppointment {
			cp.NextAppointment = lookup(rel.Appointments, c.NextAppointmentID)
		}
		if w.deals {
			cp.Deals = rel.Deals[c.ID]
			if cp.Deals == nil {
				cp.Deals = []*model.Deal{}
			}
		}
		out[i] = &cp
	}
	return out, nil
}

// byKey waits for a queued batch and indexes its values by key.
func byKey[V any](keys []string, thunk func() ([]V, error)) (map[string]V, error) {
	if thunk == nil {
		return nil, nil
	}
	vals, err := thunk()
	if err != nil {
		return nil, err
	}
	m := make(map[string]V, len(keys))
	for i, k := range keys {
		m[k] = vals[i]
	}
	return m, nil
}

// lookup returns m's value for an optional id; missing rows are nil (an
// entity another area has not made visible yet).
func lookup[V any](m map[string]*V, id *string) *V {
	if id == nil {
		return nil
	}
	return m[*id]
}

// fillOne is fillCustomers for one customer.
func fillOne(ctx context.Context, w customerWants, c *model.Customer,
	read func(context.Context, readstore.RelationKeys) (*readstore.Relations, error)) (*model.Customer, error) {
	out, err := fillCustomers(ctx, w, []*model.Customer{c}, read)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// filled passes on what a resolver returning one customer got, with the
// relations the field being resolved selects filled in.
func (r *Resolver) filled(ctx context.Context, c *model.Customer, err error) (*model.Customer, error) {
	if err != nil || c == nil {
		return c, err
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return c, nil
	}
	return fillOne(ctx, wantsOf(selectedFields(ctx, fc.Field.Selections)), c, r.loadedRelations)
}

// fillPage fills the nodes of a customer page with the relations its
// edges { node { ... } } selections ask for, in a new connection.
func (r *Resolver) fillPage(ctx context.Context, c *model.CustomerConnection) (*model.CustomerConnection, error) {
	w := wantsOf(nodeFields(ctx, "Customer"))
	if !w.any() || len(c.Edges) == 0 {
		return c, nil
	}
	nodes := make([]*model.Customer, len(c.Edges))
	for i, e := range c.Edges {
		nodes[i] = e.Node
	}
	filled, err := fillCustomers(ctx, w, nodes, r.pageRelations)
	if err != nil {
		return nil, err
	}
	cp := *c
	cp.Edges = make([]*model.CustomerEdge, len(c.Edges))
	for i, e := range c.Edges {
		cp.Edges[i] = &model.CustomerEdge{Cursor: e.Cursor, Node: filled[i]}
	}
	return &cp, nil
}

// pushFiller returns what fills each customer pushed to a customerChanged
// subscriber with the relations the subscription selects, read when the
// push is made; nil when it selects none. The selection is the same for
// every push, so it is looked at once, when the subscription starts.
func (r *Resolver) pushFiller(ctx context.Context) func(context.Context, *model.Customer) (*model.Customer, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	w := wantsOf(selectedFields(ctx, fc.Field.Selections))
	if !w.any() {
		return nil
	}
	return func(ctx context.Context, c *model.Customer) (*model.Customer, error) {
		return fillOne(ctx, w, c, r.loadedRelations)
	}
}
