package relationships

import (
	"context"
	"encoding/json"
	"fmt"

	"crm/eventlog"
	"crm/eventlog/ids"
	cmp "crm/services/campaigns/contract"
	"crm/services/kit"
	"crm/services/relationships/domain"
)

// DealWon is the reaction to the campaigns area's DealWon event cause: the
// deal's product joins the customer's products owned. It is idempotent:
// the append carries the idempotency key "reaction:" + cause.ID + ":" +
// the customer id, and the account records each deal id once, so a
// redelivered cause records nothing new. The events' metadata are
// kit.ReactionMeta's: actor "system" on behalf of the cause's actor,
// CausationID = cause.ID, the cause's correlation id (its id when it has
// none) and trace context.
//
// Errors: an event of another type, data that is not DealWon JSON, or a
// malformed customer or deal id or empty product (BAD_USER_INPUT) fail
// for good, and the consumer should park the event; UNAVAILABLE and
// context errors are worth a retry.
func (s *Service) DealWon(ctx context.Context, cause eventlog.Event) error {
	if cause.Type != cmp.TypeDealWon {
		return fmt.Errorf("relationships: DealWon reaction got event %s of type %q", cause.ID, cause.Type)
	}
	var d cmp.DealWon // the campaigns area's published event; unknown fields are ignored
	if err := json.Unmarshal(cause.Data, &d); err != nil {
		return fmt.Errorf("relationships: decode DealWon %s: %w", cause.ID, err)
	}
	for _, err := range []error{checkID("customerId", ids.Customer, d.CustomerID, false),
		checkID("dealId", ids.Deal, d.DealID, false)} {
		if err != nil {
			return fmt.Errorf("relationships: DealWon %s: %w", cause.ID, err)
		}
	}
	_, err := s.x.Run(ctx, kit.ReactionMeta(cause, d.CustomerID), nil, func(ctx context.Context) (kit.Plan, error) {
		a, v, err := s.loadAccount(ctx, d.CustomerID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := a.AddOwnedProduct(domain.AddOwnedProduct{CustomerID: d.CustomerID, DealID: d.DealID,
			Product: d.Product}, s.now())
		return kit.Plan{Primary: d.CustomerID, Events: kit.Events(evs), Versions: map[string]int64{d.CustomerID: v}}, err
	})
	if err != nil {
		return fmt.Errorf("relationships: DealWon %s for %s: %w", cause.ID, d.CustomerID, err)
	}
	return nil
}
