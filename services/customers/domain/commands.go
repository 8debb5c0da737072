package domain

import (
	"fmt"
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// RegisterCustomer registers a new customer. Phone and Address are optional.
type RegisterCustomer struct {
	CustomerID string // the new customer's id, chosen by the service
	Name       string
	Email      string
	Phone      string
	Address    *Address
}

// UpdateCustomer changes any subset of a customer's contact fields. A nil
// field stays as it is. An empty Phone removes the phone; an Address whose
// fields are all empty removes the address (an address is replaced whole).
type UpdateCustomer struct {
	CustomerID string
	Name       *string
	Email      *string
	Phone      *string
	Address    *Address
}

// ArchiveCustomer archives a customer for good. Reason is optional.
type ArchiveCustomer struct {
	CustomerID string
	Reason     string
}

// Register decides cmd on c, the aggregate of stream cmd.CustomerID (zero
// when the stream is empty), and claim, the claim of
// EmailClaimStreamID(cmd.Email). It returns CustomerRegistered for the
// customer's stream and, unless the address is already this customer's,
// CustomerEmailClaimed for the claim stream.
//
// Errors: BAD_USER_INPUT on "id", "name", "email", "phone" or
// "address.<field>"; CONFLICT when the customer exists already or another
// active customer holds the email (field "email").
func (c Customer) Register(cmd RegisterCustomer, claim EmailClaim, now time.Time) ([]Event, error) {
	if !ids.Valid(ids.Customer, cmd.CustomerID) {
		return nil, errcode.Invalid("id", "id is not a customer id")
	}
	name, err := normalizeName(cmd.Name)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(cmd.Email)
	if err != nil {
		return nil, err
	}
	phone, err := normalizePhone(cmd.Phone)
	if err != nil {
		return nil, err
	}
	addr, err := normalizeAddress(cmd.Address)
	if err != nil {
		return nil, err
	}
	if err := c.sameStream(cmd.CustomerID); err != nil {
		return nil, err
	}
	if c.Exists() {
		return nil, errcode.New(errcode.Conflict, "customer %s already exists", cmd.CustomerID)
	}
	now = now.UTC()
	claimed, err := claim.claim(email, cmd.CustomerID, now)
	if err != nil {
		return nil, err
	}
	reg := CustomerRegistered{CustomerID: cmd.CustomerID, Name: name, Email: email, Phone: phone,
		Address: addr, RegisteredAt: now}
	return append([]Event{reg}, claimed...), nil
}

// Update decides cmd on c, the aggregate of stream cmd.CustomerID. current
// is the claim of c's email and requested the claim of
// EmailClaimStreamID(*cmd.Email); both are only read when the email
// changes (requested may be zero when cmd.Email is nil). It returns
// CustomerUpdated with the full contact data after the change, plus, when
// the email changes, CustomerEmailClaimed for the new address and
// CustomerEmailReleased for the old one. A command that changes nothing
// returns no events.
//
// Errors: BAD_USER_INPUT on "id", "name", "email", "phone" or
// "address.<field>"; NOT_FOUND when the customer does not exist; CONFLICT
// when it is archived or another active customer holds the new email
// (field "email").
func (c Customer) Update(cmd UpdateCustomer, current, requested EmailClaim, now time.Time) ([]Event, error) {
	if !ids.Valid(ids.Customer, cmd.CustomerID) {
		return nil, errcode.Invalid("id", "id is not a customer id")
	}
	next := c
	var err error
	if cmd.Name != nil {
		if next.Name, err = normalizeName(*cmd.Name); err != nil {
			return nil, err
		}
	}
	if cmd.Email != nil {
		if next.Email, err = normalizeEmail(*cmd.Email); err != nil {
			return nil, err
		}
	}
	if cmd.Phone != nil {
		if next.Phone, err = normalizePhone(*cmd.Phone); err != nil {
			return nil, err
		}
	}
	if cmd.Address != nil {
		if next.Address, err = normalizeAddress(cmd.Address); err != nil {
			return nil, err
		}
	}
	if err := c.sameStream(cmd.CustomerID); err != nil {
		return nil, err
	}
	if err := c.mustBeActive(); err != nil {
		return nil, err
	}

	var changed []string
	if next.Name != c.Name {
		changed = append(changed, "name")
	}
	if next.Email != c.Email {
		changed = append(changed, "email")
	}
	if next.Phone != c.Phone {
		changed = append(changed, "phone")
	}
	if !equalAddress(next.Address, c.Address) {
		changed = append(changed, "address")
	}
	if len(changed) == 0 {
		return nil, nil
	}

	now = now.UTC()
	events := []Event{CustomerUpdated{CustomerID: c.ID, Name: next.Name, Email: next.Email,
		Phone: next.Phone, Address: copyAddress(next.Address), Changed: changed, UpdatedAt: now}}
	if next.Email != c.Email {
		claimed, err := requested.claim(next.Email, c.ID, now)
		if err != nil {
			return nil, err
		}
		released, err := current.release(c.Email, c.ID, now)
		if err != nil {
			return nil, err
		}
		events = append(append(events, claimed...), released...)
	}
	return events, nil
}

// Archive decides cmd on c, the aggregate of stream cmd.CustomerID, and
// claim, the claim of c's email. It returns CustomerArchived and
// CustomerEmailReleased, which frees the address for new customers.
//
// Errors: BAD_USER_INPUT on "id" or "reason" (at most MaxReasonLen
// characters); NOT_FOUND when the customer does not exist; CONFLICT when it
// is archived already.
func (c Customer) Archive(cmd ArchiveCustomer, claim EmailClaim, now time.Time) ([]Event, error) {
	if !ids.Valid(ids.Customer, cmd.CustomerID) {
		return nil, errcode.Invalid("id", "id is not a customer id")
	}
	reason, err := cleanText("reason", cmd.Reason, 0, MaxReasonLen)
	if err != nil {
		return nil, err
	}
	if err := c.sameStream(cmd.CustomerID); err != nil {
		return nil, err
	}
	if err := c.mustBeActive(); err != nil {
		return nil, err
	}
	now = now.UTC()
	released, err := claim.release(c.Email, c.ID, now)
	if err != nil {
		return nil, err
	}
	archived := CustomerArchived{CustomerID: c.ID, Reason: reason, ArchivedAt: now}
	return append([]Event{archived}, released...), nil
}

// sameStream refuses a command for another customer than the one c was
// folded from: the service loaded the wrong stream.
func (c Customer) sameStream(id string) error {
	if c.ID != "" && c.ID != id {
		return fmt.Errorf("customers: command for %s decided on stream %s", id, c.ID)
	}
	return nil
}

func (c Customer) mustBeActive() error {
	switch c.Status {
	case "":
		return errcode.New(errcode.NotFound, "customer not found")
	case StatusArchived:
		return errcode.New(errcode.Conflict, "customer %s is archived", c.ID)
	}
	return nil
}

// claim returns the events that make customerID the holder of email, whose
// claim aggregate is e: none when it holds the address already.
func (e EmailClaim) claim(email, customerID string, now time.Time) ([]Event, error) {
	if err := e.check(email); err != nil {
		return nil, err
	}
	switch e.Holder {
	case customerID:
		return nil, nil
	case "":
		return []Event{CustomerEmailClaimed{Email: email, CustomerID: customerID, ClaimedAt: now}}, nil
	}
	err := errcode.New(errcode.Conflict, "this email is already used by another active customer")
	err.Field = "email"
	return nil, err
}

// release returns the events that free email from customerID: none when
// the customer does not hold it (then there is nothing to free). An active
// customer always holds its address, so a claim never folded (zero) means
// the service did not load it, which must not silently keep the address
// taken for good.
func (e EmailClaim) release(email, customerID string, now time.Time) ([]Event, error) {
	if e.Email == "" {
		return nil, fmt.Errorf("customers: claim of %s's email not loaded", customerID)
	}
	if err := e.check(email); err != nil {
		return nil, err
	}
	if e.Holder != customerID {
		return nil, nil
	}
	return []Event{CustomerEmailReleased{Email: email, CustomerID: customerID, ReleasedAt: now}}, nil
}

// check refuses a claim folded from another address's stream.
func (e EmailClaim) check(email string) error {
	if e.Email != "" && e.Email != email {
		return fmt.Errorf("customers: claim of %s passed for another address", e.ID)
	}
	return nil
}
