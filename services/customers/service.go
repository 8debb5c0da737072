// Package customers is the customer area's write service: it loads the
// aggregates a command needs from the area's event log, lets the domain
// decide, and appends the events (see services/customers/domain). The area
// depends on no other area.
package customers

import (
	"context"
	"time"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/customers/contract"
	"crm/services/customers/domain"
	"crm/services/kit"
	"crm/services/wire"
)

// Area is the area's name: its schema, its Redis streams, its token key.
const Area = "customers"

// Service runs the area's commands.
type Service struct {
	log *eventlog.Log
	x   *kit.Executor
	now func() time.Time
}

// NewService returns a service over the area's log.
func NewService(log *eventlog.Log) *Service {
	return &Service{log: log, x: &kit.Executor{Area: Area, Log: log}, now: time.Now}
}

// Address is a postal address in commands.
type Address struct {
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
}

func (a *Address) domain() *domain.Address {
	if a == nil {
		return nil
	}
	d := domain.Address(*a)
	return &d
}

// RegisterCustomer is the body of POST /commands/register-customer.
type RegisterCustomer struct {
	wire.CommandOptions
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Phone   string   `json:"phone,omitempty"`
	Address *Address `json:"address,omitempty"`
}

// UpdateCustomer is the body of POST /commands/update-customer. Absent or
// null fields stay as they are.
type UpdateCustomer struct {
	wire.CommandOptions
	ID      string   `json:"id"`
	Name    *string  `json:"name,omitempty"`
	Email   *string  `json:"email,omitempty"`
	Phone   *string  `json:"phone,omitempty"`
	Address *Address `json:"address,omitempty"`
}

// ArchiveCustomer is the body of POST /commands/archive-customer.
type ArchiveCustomer struct {
	wire.CommandOptions
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
}

// Register registers a new customer under a fresh id.
func (s *Service) Register(ctx context.Context, cmd *RegisterCustomer, req kit.Request) (wire.Result, error) {
	id := ids.New(ids.Customer)
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		// The customer's stream is new; its email's claim stream is too,
		// unless the email was ever used: guess so first (kit.Plan.Guessed),
		// and read the claim only when the append says it exists.
		claimID := contract.EmailClaimStreamID(cmd.Email)
		var claim domain.EmailClaim
		var claimV int64
		guess := kit.MayGuess(ctx)
		if !guess {
			var err error
			if claim, claimV, err = s.loadClaim(ctx, claimID); err != nil {
				return kit.Plan{}, err
			}
		}
		evs, err := domain.Customer{}.Register(domain.RegisterCustomer{CustomerID: id, Name: cmd.Name, Email: cmd.Email,
			Phone: cmd.Phone, Address: cmd.Address.domain()}, claim, s.now())
		return kit.Plan{Primary: id, Events: kit.Events(evs), Versions: map[string]int64{id: 0, claimID: claimV}, Guessed: guess}, err
	})
}

// Update changes a customer's contact fields.
func (s *Service) Update(ctx context.Context, cmd *UpdateCustomer, req kit.Request) (wire.Result, error) {
	if err := checkID(cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		c, v, err := s.loadCustomer(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		versions := map[string]int64{cmd.ID: v}
		current, requested := domain.EmailClaim{}, domain.EmailClaim{}
		if c.Exists() {
			curID := contract.EmailClaimStreamID(c.Email)
			if current, versions[curID], err = s.loadClaim(ctx, curID); err != nil {
				return kit.Plan{}, err
			}
			if cmd.Email != nil {
				reqID := contract.EmailClaimStreamID(*cmd.Email)
				if requested, versions[reqID], err = s.loadClaim(ctx, reqID); err != nil {
					return kit.Plan{}, err
				}
			}
		}
		evs, err := c.Update(domain.UpdateCustomer{CustomerID: cmd.ID, Name: cmd.Name, Email: cmd.Email,
			Phone: cmd.Phone, Address: cmd.Address.domain()}, current, requested, s.now())
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: versions}, err
	})
}

// Archive archives a customer and frees its email.
func (s *Service) Archive(ctx context.Context, cmd *ArchiveCustomer, req kit.Request) (wire.Result, error) {
	if err := checkID(cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		c, v, err := s.loadCustomer(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		versions := map[string]int64{cmd.ID: v}
		var claim domain.EmailClaim
		if c.Exists() {
			claimID := contract.EmailClaimStreamID(c.Email)
			if claim, versions[claimID], err = s.loadClaim(ctx, claimID); err != nil {
				return kit.Plan{}, err
			}
		}
		evs, err := c.Archive(domain.ArchiveCustomer{CustomerID: cmd.ID, Reason: cmd.Reason}, claim, s.now())
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: versions}, err
	})
}

func checkID(id string) error {
	if !ids.Valid(ids.Customer, id) {
		return errcode.Invalid("id", "id is not a customer id")
	}
	return nil
}

func (s *Service) loadCustomer(ctx context.Context, id string) (domain.Customer, int64, error) {
	var c domain.Customer
	v, err := kit.Load(ctx, s.log, id, domain.Decode, c.Apply)
	return c, v, err
}

func (s *Service) loadClaim(ctx context.Context, id string) (domain.EmailClaim, int64, error) {
	var c domain.EmailClaim
	v, err := kit.Load(ctx, s.log, id, domain.Decode, c.Apply)
	return c, v, err
}
