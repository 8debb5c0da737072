// Package relationships is the relationships area's write service:
// salespeople, each customer's account team, interests and products owned.
// It loads the aggregates a command needs from the area's event log, asks
// its Facts for what it knows of the customer area, lets the domain decide
// (see services/relationships/domain), and appends the events. It imports
// no other area: customers are known through Facts, won deals through the
// DealWon reaction (reaction.go).
package relationships

import (
	"context"
	"errors"
	"time"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/kit"
	"crm/services/relationships/contract"
	"crm/services/relationships/domain"
	"crm/services/wire"
)

// Area is the area's name: its schema, its Redis streams, its token key.
const Area = "relationships"

// Facts is what the service needs to know of other areas. The lead's
// implementation answers from a local replica of the customer area's
// events.
type Facts interface {
	// Customer returns what is known of the customer with the given
	// (well-formed) id, once the replica has applied the customer area's
	// log at least up to token's position for that area (a bounded wait).
	// A coded error (CONSISTENCY_TIMEOUT, UNAVAILABLE...) is passed on to
	// the client as is; an error without a code is answered as UNAVAILABLE.
	Customer(ctx context.Context, customerID string, token wire.Token) (domain.CustomerFact, error)
}

// Service runs the area's commands and reactions.
type Service struct {
	log   *eventlog.Log
	facts Facts
	x     *kit.Executor
	now   func() time.Time
}

// NewService returns a service over the area's log that learns about
// customers from facts.
func NewService(log *eventlog.Log, facts Facts) *Service {
	return &Service{log: log, facts: facts, x: &kit.Executor{Area: Area, Log: log}, now: time.Now}
}

// RegisterSalesperson is the body of POST /commands/register-salesperson.
type RegisterSalesperson struct {
	wire.CommandOptions
	Name      string `json:"name"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	ManagerID string `json:"managerId,omitempty"`
}

// AssignAccountTeam is the body of POST /commands/assign-account-team.
// Without managerId the sales rep's own manager (if any) becomes the
// account's manager.
type AssignAccountTeam struct {
	wire.CommandOptions
	CustomerID string `json:"customerId"`
	SalesRepID string `json:"salesRepId"`
	ManagerID  string `json:"managerId,omitempty"`
}

// RecordInterest is the body of POST /commands/record-interest.
type RecordInterest struct {
	wire.CommandOptions
	CustomerID string `json:"customerId"`
	Interest   string `json:"interest"`
}

// RemoveInterest is the body of POST /commands/remove-interest.
type RemoveInterest struct {
	wire.CommandOptions
	CustomerID string `json:"customerId"`
	Interest   string `json:"interest"`
}

// RegisterSalesperson registers a new salesperson under a fresh id and
// claims its email among salespeople. Errors: BAD_USER_INPUT on "name",
// "email", "role" or "managerId"; NOT_FOUND ("managerId") for an unknown
// manager; CONFLICT ("email") when another salesperson holds the email.
func (s *Service) RegisterSalesperson(ctx context.Context, cmd *RegisterSalesperson, req kit.Request) (wire.Result, error) {
	if err := checkID("managerId", ids.Salesperson, cmd.ManagerID, true); err != nil {
		return wire.Result{}, err
	}
	id := ids.New(ids.Salesperson)
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		claimID := contract.EmailClaimStreamID(cmd.Email)
		claim, claimV, err := s.loadClaim(ctx, claimID)
		if err != nil {
			return kit.Plan{}, err
		}
		versions := map[string]int64{id: 0, claimID: claimV}
		var manager domain.Salesperson
		if cmd.ManagerID != "" {
			if manager, versions[cmd.ManagerID], err = s.loadSalesperson(ctx, cmd.ManagerID); err != nil {
				return kit.Plan{}, err
			}
		}
		evs, err := domain.Salesperson{}.Register(domain.RegisterSalesperson{SalespersonID: id, Name: cmd.Name,
			Email: cmd.Email, Role: domain.Role(cmd.Role), ManagerID: cmd.ManagerID}, claim, manager, s.now())
		return kit.Plan{Primary: id, Events: kit.Events(evs), Versions: versions}, err
	})
}

// AssignAccountTeam makes a sales rep, and optionally a manager, the
// customer's account team. Errors: BAD_USER_INPUT on "customerId",
// "salesRepId" (malformed or not a SALES_REP) or "managerId" (malformed or
// not a MANAGER); NOT_FOUND on the field of an unknown customer, rep or
// manager; CONFLICT for an archived customer.
func (s *Service) AssignAccountTeam(ctx context.Context, cmd *AssignAccountTeam, req kit.Request) (wire.Result, error) {
	for _, err := range []error{checkID("customerId", ids.Customer, cmd.CustomerID, false),
		checkID("salesRepId", ids.Salesperson, cmd.SalesRepID, false),
		checkID("managerId", ids.Salesperson, cmd.ManagerID, true)} {
		if err != nil {
			return wire.Result{}, err
		}
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		fact, err := s.customer(ctx, cmd.CustomerID, req.Token)
		if err != nil {
			return kit.Plan{}, err
		}
		a, v, err := s.loadAccount(ctx, cmd.CustomerID)
		if err != nil {
			return kit.Plan{}, err
		}
		versions := map[string]int64{cmd.CustomerID: v}
		rep, repV, err := s.loadSalesperson(ctx, cmd.SalesRepID)
		if err != nil {
			return kit.Plan{}, err
		}
		versions[cmd.SalesRepID] = repV
		var manager domain.Salesperson
		if cmd.ManagerID != "" {
			if manager, versions[cmd.ManagerID], err = s.loadSalesperson(ctx, cmd.ManagerID); err != nil {
				return kit.Plan{}, err
			}
		}
		evs, err := a.AssignTeam(domain.AssignAccountTeam{CustomerID: cmd.CustomerID, SalesRepID: cmd.SalesRepID,
			ManagerID: cmd.ManagerID}, fact, rep, manager, s.now())
		return kit.Plan{Primary: cmd.CustomerID, Events: kit.Events(evs), Versions: versions}, err
	})
}

// RecordInterest adds an interest to the customer's interests (recording
// one it has already records nothing). Errors: BAD_USER_INPUT on
// "customerId" or "interest"; NOT_FOUND ("customerId") for an unknown
// customer; CONFLICT for an archived customer, or ("interest") when the
// customer has the most interests allowed.
func (s *Service) RecordInterest(ctx context.Context, cmd *RecordInterest, req kit.Request) (wire.Result, error) {
	if err := checkID("customerId", ids.Customer, cmd.CustomerID, false); err != nil {
		return wire.Result{}, err
	}
	return s.onAccount(ctx, cmd.CustomerID, req, func(a domain.Account, fact domain.CustomerFact) ([]domain.Event, error) {
		return a.RecordInterest(domain.RecordInterest{CustomerID: cmd.CustomerID, Interest: cmd.Interest}, fact, s.now())
	})
}

// RemoveInterest removes an interest from the customer's interests
// (removing one it lacks records nothing). Errors: as RecordInterest,
// without the count limit.
func (s *Service) RemoveInterest(ctx context.Context, cmd *RemoveInterest, req kit.Request) (wire.Result, error) {
	if err := checkID("customerId", ids.Customer, cmd.CustomerID, false); err != nil {
		return wire.Result{}, err
	}
	return s.onAccount(ctx, cmd.CustomerID, req, func(a domain.Account, fact domain.CustomerFact) ([]domain.Event, error) {
		return a.RemoveInterest(domain.RemoveInterest{CustomerID: cmd.CustomerID, Interest: cmd.Interest}, fact, s.now())
	})
}

// onAccount runs a decision that reads only the customer's account stream
// and the replica's fact about the customer.
func (s *Service) onAccount(ctx context.Context, customerID string, req kit.Request,
	decide func(domain.Account, domain.CustomerFact) ([]domain.Event, error)) (wire.Result, error) {
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		fact, err := s.customer(ctx, customerID, req.Token)
		if err != nil {
			return kit.Plan{}, err
		}
		a, v, err := s.loadAccount(ctx, customerID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := decide(a, fact)
		return kit.Plan{Primary: customerID, Events: kit.Events(evs), Versions: map[string]int64{customerID: v}}, err
	})
}

// customer asks Facts about a customer, classifying an uncoded failure as
// UNAVAILABLE: the replica (or what feeds it) is down, nothing was decided.
func (s *Service) customer(ctx context.Context, id string, token wire.Token) (domain.CustomerFact, error) {
	fact, err := s.facts.Customer(ctx, id, token)
	switch {
	case err == nil:
		return fact, nil
	case errcode.Of(err) != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 0, err
	default:
		return 0, errcode.Wrap(errcode.Unavailable, err, "what this service knows of customers is unavailable")
	}
}

// checkID refuses a malformed id (or an empty one unless optional) before
// it is used as a stream id: BAD_USER_INPUT on field.
func checkID(field, prefix, id string, optional bool) error {
	if id == "" && optional {
		return nil
	}
	if id == "" {
		return errcode.Invalid(field, "%s is required", field)
	}
	if !ids.Valid(prefix, id) {
		return errcode.Invalid(field, "%s is not a valid %s id", field, kind(prefix))
	}
	return nil
}

func kind(prefix string) string {
	if prefix == ids.Salesperson {
		return "salesperson"
	}
	if prefix == ids.Deal {
		return "deal"
	}
	return "customer"
}

func (s *Service) loadAccount(ctx context.Context, id string) (domain.Account, int64, error) {
	var a domain.Account
	v, err := kit.Load(ctx, s.log, id, domain.Decode, a.Apply)
	return a, v, err
}

func (s *Service) loadSalesperson(ctx context.Context, id string) (domain.Salesperson, int64, error) {
	var sp domain.Salesperson
	v, err := kit.Load(ctx, s.log, id, domain.Decode, sp.Apply)
	return sp, v, err
}

func (s *Service) loadClaim(ctx context.Context, id string) (domain.EmailClaim, int64, error) {
	var c domain.EmailClaim
	v, err := kit.Load(ctx, s.log, id, domain.Decode, c.Apply)
	return c, v, err
}
