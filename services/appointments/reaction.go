package appointments

import (
	"context"
	"errors"
	"fmt"

	"crm/eventlog"
	"crm/eventlog/ids"
	"crm/services/appointments/domain"
	"crm/services/kit"
)

// CustomerArchived is the reaction to the customer area's CustomerArchived
// event cause, for the customer customerID: each of the customer's
// appointments that is SCHEDULED and starts after the archiving (cause's
// RecordedAt; the service's clock when that is zero) is cancelled with
// reason "customer archived".
//
// Each cancellation is appended on its own, with kit.ReactionMeta's
// metadata: actor "system" on behalf of cause's actor, CausationID =
// cause.ID, CorrelationID = cause's correlation id (cause.ID when it has
// none), cause's trace context, and the idempotency key "reaction:" +
// cause.ID + ":" + appointment id. Redelivering the same
// cause therefore records nothing new, also after a partial failure, and
// deciding against the archiving time (not the time of delivery) gives the
// same answer however late the delivery. Appointments already cancelled,
// completed or started are left alone.
//
// It returns an error (to be retried by the caller) when the index or the
// log is unavailable or a cancellation keeps losing races, and a permanent
// error for a malformed customer id or a cause without an id.
func (s *Service) CustomerArchived(ctx context.Context, customerID string, cause eventlog.Event) error {
	if !ids.Valid(ids.Customer, customerID) {
		return fmt.Errorf("appointments: customer archived: malformed customer id %q in event %s", customerID, cause.ID)
	}
	if cause.ID == "" {
		return errors.New("appointments: customer archived: the causing event has no id")
	}
	at := cause.RecordedAt
	if at.IsZero() {
		at = s.now()
	}
	upcoming, err := s.index.Upcoming(ctx, customerID, at)
	if err != nil {
		return fmt.Errorf("appointments: customer archived %s: %w", customerID, err)
	}
	var errs []error
	for _, id := range upcoming {
		_, err := s.x.Run(ctx, kit.ReactionMeta(cause, id), nil, func(ctx context.Context) (kit.Plan, error) {
			a, v, err := s.loadAppointment(ctx, id)
			if err != nil {
				return kit.Plan{}, err
			}
			var evs []domain.Event
			if a.CustomerID == customerID {
				evs = a.CancelForArchivedCustomer(at)
			}
			return kit.Plan{Primary: id, Events: kit.Events(evs), Versions: releasing(id, a, v)}, nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("appointments: cancel %s for archived customer %s: %w", id, customerID, err))
		}
	}
	return errors.Join(errs...)
}
