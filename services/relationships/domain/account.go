package domain

import (
	"slices"
	"time"
)

// CustomerFact is what the relationships service knows of a customer from
// its replica of the customer area's events.
type CustomerFact int

// The customer facts.
const (
	// UnknownCustomer: no CustomerRegistered seen for the id.
	UnknownCustomer CustomerFact = iota
	// ActiveCustomer: registered and not archived.
	ActiveCustomer
	// ArchivedCustomer: archived.
	ArchivedCustomer
)

// Account is what the relationships area keeps per customer, folded from the
// account stream whose id is the customer id. The zero value is an account
// with no events yet: no team, no interests, no products.
type Account struct {
	ID         string // the customer id, "" until the first event
	Version    int64
	SalesRepID string // "" when no team is assigned
	ManagerID  string // "" when none
	Interests  []string
	Products   []string
	// Deals holds the ids of the won deals whose product was added.
	Deals map[string]bool
}

// Apply folds one event of the account stream into a. Events of other
// streams' types are ignored and do not count as a version. The folded
// lists are copies: the aggregate shares no memory with an event.
func (a *Account) Apply(e Event) {
	switch e := e.(type) {
	case AccountTeamAssigned:
		a.ID, a.SalesRepID, a.ManagerID = e.CustomerID, e.SalesRepID, e.ManagerID
	case InterestRecorded:
		a.ID, a.Interests = e.CustomerID, slices.Clone(e.Interests)
	case InterestRemoved:
		a.ID, a.Interests = e.CustomerID, slices.Clone(e.Interests)
	case ProductAdded:
		a.ID, a.Products = e.CustomerID, slices.Clone(e.Products)
		if a.Deals == nil {
			a.Deals = map[string]bool{}
		}
		a.Deals[e.DealID] = true
	default:
		return
	}
	a.Version++
}

// RebuildAccount folds an account stream, oldest event first.
func RebuildAccount(events []Event) Account {
	var a Account
	for _, e := range events {
		a.Apply(e)
	}
	return a
}

// AssignAccountTeam makes a sales rep, and optionally a manager, the
// customer's account team. Without ManagerID the rep's own manager (if any)
// becomes the account's manager.
type AssignAccountTeam struct {
	CustomerID string
	SalesRepID string
	ManagerID  string
}

// RecordInterest adds an interest to the customer's interests.
type RecordInterest struct {
	CustomerID string
	Interest   string
}

// RemoveInterest removes an interest from the customer's interests.
type RemoveInterest struct {
	CustomerID string
	Interest   string
}

// AddOwnedProduct is the reaction to a deal won in the campaigns area: the
// deal's product joins the customer's products owned.
type AddOwnedProduct struct {
	CustomerID string
	DealID     string
	Product    string
}

// withCopy returns a copy of list with s appended; the result never shares
// memory with list, so a decision cannot change its aggregate.
func withCopy(list []string, s string) []string {
	out := make([]string, 0, len(list)+1)
	return append(append(out, list...), s)
}

// without returns a copy of list without its i-th entry, never nil.
func without(list []string, i int) []string {
	out := make([]string, 0, len(list))
	return append(append(out, list[:i]...), list[i+1:]...)
}

// stamp is when an event of a decision taken at now happened.
func stamp(now time.Time) time.Time { return now.UTC() }
