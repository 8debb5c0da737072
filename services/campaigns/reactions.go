package campaigns

import (
	"context"
	"errors"
	"fmt"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/kit"
)

// CustomerArchived is the reaction to the customers area's CustomerArchived
// event cause: every OPEN deal of the customer is lost with reason
// "customer archived". Each deal's DealLost carries kit.ReactionMeta's
// metadata: actor "system" on behalf of cause's actor, cause's id as
// causation id, cause's correlation id (its id when it has none) and trace
// context, and "reaction:<cause id>:<deal id>" as idempotency key, so a
// redelivery records nothing new; a deal won or lost meanwhile is left as it is.
//
// It loses every deal it can and returns the failures joined (nil when all
// succeeded): the caller redelivers, and the deals already lost are no
// longer open. Errors: a malformed customerID or a cause without id
// (BAD_USER_INPUT, redelivery cannot help); UNAVAILABLE and uncoded errors
// when the log or its index cannot be read or written.
func (s *Service) CustomerArchived(ctx context.Context, customerID string, cause eventlog.Event) error {
	if !ids.Valid(ids.Customer, customerID) {
		return errcode.Invalid("customerId", "%q is not a customer id", customerID)
	}
	if cause.ID == "" {
		return errcode.Invalid("cause", "the causing event has no id")
	}
	var errs []error
	after := ""
	for {
		deals, err := s.index.openDeals(ctx, customerID, after)
		if err != nil {
			return errors.Join(append(errs, errcode.Wrap(errcode.Unavailable, err, "the deal index is unavailable"))...)
		}
		for _, id := range deals {
			if err := s.loseForArchivedCustomer(ctx, id, cause); err != nil {
				if ctx.Err() != nil {
					return errors.Join(append(errs, err)...)
				}
				errs = append(errs, fmt.Errorf("lose deal %s of archived customer %s: %w", id, customerID, err))
			}
		}
		if len(deals) < indexPage {
			return errors.Join(errs...)
		}
		after = deals[len(deals)-1]
	}
}

func (s *Service) loseForArchivedCustomer(ctx context.Context, dealID string, cause eventlog.Event) error {
	_, err := s.x.Run(ctx, kit.ReactionMeta(cause, dealID), nil, func(ctx context.Context) (kit.Plan, error) {
		d, v, err := s.loadDeal(ctx, dealID)
		if err != nil {
			return kit.Plan{}, err
		}
		// No events for a deal won or lost since the index was read.
		evs := d.LoseForArchivedCustomer()
		return kit.Plan{Primary: dealID, Events: kit.Events(evs), Versions: map[string]int64{dealID: v}}, nil
	})
	return err
}
