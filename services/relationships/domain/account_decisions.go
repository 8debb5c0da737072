package domain

import (
	"fmt"
	"strings"
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// AssignTeam decides cmd on a, the account stream cmd.CustomerID. customer
// is the replica's fact about the customer, rep the aggregate of
// cmd.SalesRepID and manager that of cmd.ManagerID (zero when empty). It
// returns AccountTeamAssigned, or no events when the team is already the
// one asked for.
//
// Errors: BAD_USER_INPUT on "customerId", "salesRepId" (malformed or not a
// SALES_REP) or "managerId" (malformed or not a MANAGER); NOT_FOUND on the
// field of an unknown customer, rep or manager; CONFLICT when the customer
// is archived.
func (a Account) AssignTeam(cmd AssignAccountTeam, customer CustomerFact, rep, manager Salesperson, now time.Time) ([]Event, error) {
	if err := validID("customerId", ids.Customer, cmd.CustomerID, false); err != nil {
		return nil, err
	}
	if err := validID("salesRepId", ids.Salesperson, cmd.SalesRepID, false); err != nil {
		return nil, err
	}
	if err := validID("managerId", ids.Salesperson, cmd.ManagerID, true); err != nil {
		return nil, err
	}
	if err := a.sameStream(cmd.CustomerID); err != nil {
		return nil, err
	}
	if customer == UnknownCustomer {
		return nil, customerNotFound(cmd.CustomerID)
	}
	if err := mustBe(rep, cmd.SalesRepID, RoleSalesRep, "salesRepId"); err != nil {
		return nil, err
	}
	managerID := cmd.ManagerID
	if managerID != "" {
		if err := mustBe(manager, managerID, RoleManager, "managerId"); err != nil {
			return nil, err
		}
	} else {
		managerID = rep.ManagerID
	}
	if err := mustBeActive(customer, cmd.CustomerID); err != nil {
		return nil, err
	}
	if a.SalesRepID == cmd.SalesRepID && a.ManagerID == managerID {
		return nil, nil
	}
	return []Event{AccountTeamAssigned{CustomerID: cmd.CustomerID, SalesRepID: cmd.SalesRepID,
		ManagerID: managerID, AssignedAt: stamp(now)}}, nil
}

// RecordInterest decides cmd on a, the account stream cmd.CustomerID, with
// customer the replica's fact about the customer. The interest is trimmed
// (inner white space collapsed) and compared case-insensitively: one the
// customer has already is not recorded twice (no events).
//
// Errors: BAD_USER_INPUT on "customerId" or "interest" (empty, longer than
// MaxInterestLen); NOT_FOUND (field "customerId") for an unknown customer;
// CONFLICT when the customer is archived or has MaxInterests interests
// (field "interest").
func (a Account) RecordInterest(cmd RecordInterest, customer CustomerFact, now time.Time) ([]Event, error) {
	interest, err := a.interestCommand(cmd.CustomerID, cmd.Interest, customer)
	if err != nil {
		return nil, err
	}
	if indexFold(a.Interests, interest) >= 0 {
		return nil, nil
	}
	if len(a.Interests) >= MaxInterests {
		e := errcode.New(errcode.Conflict, "customer has %d interests already, the most allowed", MaxInterests)
		e.Field = "interest"
		return nil, e
	}
	return []Event{InterestRecorded{CustomerID: cmd.CustomerID, Interest: interest,
		Interests: withCopy(a.Interests, interest), RecordedAt: stamp(now)}}, nil
}

// RemoveInterest decides cmd on a, the account stream cmd.CustomerID, with
// customer the replica's fact about the customer. The interest is matched
// trimmed and case-insensitively; removing one the customer does not have
// changes nothing (no events). The event names the interest as recorded.
//
// Errors: as RecordInterest, except that no count limit applies.
func (a Account) RemoveInterest(cmd RemoveInterest, customer CustomerFact, now time.Time) ([]Event, error) {
	interest, err := a.interestCommand(cmd.CustomerID, cmd.Interest, customer)
	if err != nil {
		return nil, err
	}
	i := indexFold(a.Interests, interest)
	if i < 0 {
		return nil, nil
	}
	return []Event{InterestRemoved{CustomerID: cmd.CustomerID, Interest: a.Interests[i],
		Interests: without(a.Interests, i), RemovedAt: stamp(now)}}, nil
}

// interestCommand checks what RecordInterest and RemoveInterest share and
// returns the normalized interest.
func (a Account) interestCommand(customerID, raw string, customer CustomerFact) (string, error) {
	if err := validID("customerId", ids.Customer, customerID, false); err != nil {
		return "", err
	}
	interest, err := cleanText("interest", raw, 1, MaxInterestLen)
	if err != nil {
		return "", err
	}
	if err := a.sameStream(customerID); err != nil {
		return "", err
	}
	if customer == UnknownCustomer {
		return "", customerNotFound(customerID)
	}
	return interest, mustBeActive(customer, customerID)
}

// AddOwnedProduct decides cmd, the reaction to a won deal, on a, the
// account stream cmd.CustomerID. It returns ProductAdded once per deal id
// (a redelivered or repeated DealWon yields no events); a product the
// customer owns already (case-insensitively) stays once in Products. It
// does not ask whether the customer is active: the deal was won, and a
// reaction must not get stuck on the order in which areas learn things.
//
// Errors: BAD_USER_INPUT on "customerId", "dealId" or "product" (empty).
func (a Account) AddOwnedProduct(cmd AddOwnedProduct, now time.Time) ([]Event, error) {
	if err := validID("customerId", ids.Customer, cmd.CustomerID, false); err != nil {
		return nil, err
	}
	if err := validID("dealId", ids.Deal, cmd.DealID, false); err != nil {
		return nil, err
	}
	// Only white space is normalized: the campaigns area validated the
	// product, and a stricter rule here would park a fact that happened.
	product := strings.Join(strings.Fields(cmd.Product), " ")
	if product == "" {
		return nil, errcode.Invalid("product", "product is required")
	}
	if err := a.sameStream(cmd.CustomerID); err != nil {
		return nil, err
	}
	if a.Deals[cmd.DealID] {
		return nil, nil
	}
	products := withCopy(a.Products, product)
	if indexFold(a.Products, product) >= 0 {
		products = products[:len(a.Products)]
	}
	return []Event{ProductAdded{CustomerID: cmd.CustomerID, DealID: cmd.DealID, Product: product,
		Products: products, AddedAt: stamp(now)}}, nil
}

// sameStream refuses a command for another customer than the one a was
// folded from: the service loaded the wrong stream.
func (a Account) sameStream(customerID string) error {
	if a.ID != "" && a.ID != customerID {
		return fmt.Errorf("relationships: command for %s decided on account %s", customerID, a.ID)
	}
	return nil
}

func customerNotFound(id string) error {
	e := errcode.New(errcode.NotFound, "customer %s not found", id)
	e.Field = "customerId"
	return e
}

func mustBeActive(customer CustomerFact, id string) error {
	switch customer {
	case ActiveCustomer:
		return nil
	case ArchivedCustomer:
		return errcode.New(errcode.Conflict, "customer %s is archived", id)
	}
	return customerNotFound(id)
}
