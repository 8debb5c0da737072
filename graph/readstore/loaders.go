package readstore

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"crm/graph/model"
)

// DefaultLoaderWait is how long a loader collects keys before it queries:
// long enough for the sibling resolvers of one list to join the batch.
const DefaultLoaderWait = 2 * time.Millisecond

// Loaders batch and cache the reads of one request (one GraphQL response):
// every nested field goes through them, so a page of N customers costs one
// statement per kind of related entity rather than N. Make a fresh set per
// response: they cache what they read, and a set kept across subscription
// pushes would serve stale rows.
type Loaders struct {
	Customer     *dataloadgen.Loader[string, *model.Customer]
	Salesperson  *dataloadgen.Loader[string, *model.Salesperson]
	Appointment  *dataloadgen.Loader[string, *model.Appointment]
	Campaign     *dataloadgen.Loader[string, *model.Campaign]
	Deal         *dataloadgen.Loader[string, *model.Deal]
	DealsByCust  *dataloadgen.Loader[string, []*model.Deal]
	DealsByCamp  *dataloadgen.Loader[string, []*model.Deal]
	Appointments *dataloadgen.Loader[AppointmentsKey, *AppointmentsFirstPage]
}

// AppointmentsKey asks for the first page of one customer's appointments.
type AppointmentsKey struct {
	CustomerID string
	First      int
}

// NewLoaders returns a fresh set of loaders over s; wait <= 0 means
// DefaultLoaderWait. A missing row loads as nil with no error.
func NewLoaders(s *Store, wait time.Duration) *Loaders {
	if wait <= 0 {
		wait = DefaultLoaderWait
	}
	opts := []dataloadgen.Option{dataloadgen.WithWait(wait), dataloadgen.WithBatchCapacity(500)}
	return &Loaders{
		Customer:    dataloadgen.NewLoader(batch(s.CustomersByID), opts...),
		Salesperson: dataloadgen.NewLoader(batch(s.SalespeopleByID), opts...),
		Appointment: dataloadgen.NewLoader(batch(s.AppointmentsByID), opts...),
		Campaign:    dataloadgen.NewLoader(batch(s.CampaignsByID), opts...),
		Deal:        dataloadgen.NewLoader(batch(s.DealsByID), opts...),
		DealsByCust: dataloadgen.NewLoader(batch(s.DealsByCustomer), opts...),
		DealsByCamp: dataloadgen.NewLoader(batch(s.DealsByCampaign), opts...),
		Appointments: dataloadgen.NewLoader(func(ctx context.Context, keys []AppointmentsKey) ([]*AppointmentsFirstPage, []error) {
			// One statement per distinct page size; a query uses one.
			byFirst := map[int][]int{}
			for i, k := range keys {
				byFirst[k.First] = append(byFirst[k.First], i)
			}
			out := make([]*AppointmentsFirstPage, len(keys))
			errs := make([]error, len(keys))
			for first, idx := range byFirst {
				ids := make([]string, len(idx))
				for j, i := range idx {
					ids[j] = keys[i].CustomerID
				}
				pages, err := s.CustomersAppointments(ctx, ids, first)
				for j, i := range idx {
					if err != nil {
						errs[i] = err
					} else {
						out[i] = pages[j]
					}
				}
			}
			return out, errs
		}, opts...),
	}
}

// batch adapts a store read answering one value per key to a loader fetch.
func batch[V any](read func(context.Context, []string) ([]V, error)) func(context.Context, []string) ([]V, []error) {
	return func(ctx context.Context, keys []string) ([]V, []error) {
		vals, err := read(ctx, keys)
		if err != nil {
			errs := make([]error, len(keys))
			for i := range errs {
				errs[i] = err
			}
			return make([]V, len(keys)), errs
		}
		return vals, nil
	}
}

type loadersKey struct{}

// WithLoaders returns ctx carrying l.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// LoadersFrom returns the loaders ctx carries, or nil.
func LoadersFrom(ctx context.Context) *Loaders {
	l, _ := ctx.Value(loadersKey{}).(*Loaders)
	return l
}
