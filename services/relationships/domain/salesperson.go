package domain

import (
	"fmt"
	"time"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/relationships/contract"
)

// Salesperson is the salesperson aggregate, folded from its stream. The
// zero value is a salesperson that does not exist yet.
type Salesperson struct {
	ID           string
	Version      int64
	Name         string
	Email        string
	Role         Role   // "" when the salesperson does not exist
	ManagerID    string // "" when none
	RegisteredAt time.Time
}

// Exists reports whether the salesperson has been registered.
func (s Salesperson) Exists() bool { return s.Role != "" }

// Apply folds one event of the salesperson's stream into s. Events of other
// streams' types are ignored and do not count as a version.
func (s *Salesperson) Apply(e Event) {
	switch e := e.(type) {
	case SalespersonRegistered:
		*s = Salesperson{ID: e.SalespersonID, Version: s.Version, Name: e.Name, Email: e.Email,
			Role: e.Role, ManagerID: e.ManagerID, RegisteredAt: e.RegisteredAt}
	default:
		return
	}
	s.Version++
}

// RebuildSalesperson folds a salesperson's stream, oldest event first.
func RebuildSalesperson(events []Event) Salesperson {
	var s Salesperson
	for _, e := range events {
		s.Apply(e)
	}
	return s
}

// EmailClaim is the guard aggregate of one salesperson email address,
// folded from its claim stream (see EmailClaimStreamID). The zero value is
// an address nobody holds.
type EmailClaim struct {
	ID      string // the claim stream id, "" until the first event
	Version int64
	Email   string // the normalized address, "" until the first event
	Holder  string // the id of the salesperson holding it, "" when free
}

// Apply folds one event of the claim stream into e. Events of other
// streams' types are ignored and do not count as a version.
func (e *EmailClaim) Apply(ev Event) {
	switch ev := ev.(type) {
	case SalespersonEmailClaimed:
		e.ID, e.Email, e.Holder = contract.EmailClaimStreamID(ev.Email), ev.Email, ev.SalespersonID
	default:
		return
	}
	e.Version++
}

// RebuildEmailClaim folds a claim stream, oldest event first.
func RebuildEmailClaim(events []Event) EmailClaim {
	var e EmailClaim
	for _, ev := range events {
		e.Apply(ev)
	}
	return e
}

// RegisterSalesperson registers a new salesperson. ManagerID is optional.
type RegisterSalesperson struct {
	SalespersonID string // the new salesperson's id, chosen by the service
	Name          string
	Email         string
	Role          Role
	ManagerID     string
}

// Register decides cmd on s, the aggregate of stream cmd.SalespersonID
// (zero when the stream is empty); claim is the claim of
// EmailClaimStreamID(cmd.Email) and manager the aggregate of
// cmd.ManagerID's stream (zero when cmd.ManagerID is empty). It returns
// SalespersonRegistered for the salesperson's stream and, unless the
// address is this salesperson's already, SalespersonEmailClaimed for the
// claim stream.
//
// Errors: BAD_USER_INPUT on "id", "name", "email", "role" (not SALES_REP or
// MANAGER) or "managerId" (malformed, or not a MANAGER); NOT_FOUND (field
// "managerId") when the manager does not exist; CONFLICT when the
// salesperson exists already or another salesperson holds the email (field
// "email").
func (s Salesperson) Register(cmd RegisterSalesperson, claim EmailClaim, manager Salesperson, now time.Time) ([]Event, error) {
	if err := validID("id", ids.Salesperson, cmd.SalespersonID, false); err != nil {
		return nil, err
	}
	name, err := cleanText("name", cmd.Name, 1, MaxNameLen)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(cmd.Email)
	if err != nil {
		return nil, err
	}
	if cmd.Role != RoleSalesRep && cmd.Role != RoleManager {
		return nil, errcode.Invalid("role", "role must be SALES_REP or MANAGER")
	}
	if err := validID("managerId", ids.Salesperson, cmd.ManagerID, true); err != nil {
		return nil, err
	}
	if s.ID != "" && s.ID != cmd.SalespersonID {
		return nil, fmt.Errorf("relationships: registration of %s decided on stream %s", cmd.SalespersonID, s.ID)
	}
	if cmd.ManagerID != "" {
		if err := mustBe(manager, cmd.ManagerID, RoleManager, "managerId"); err != nil {
			return nil, err
		}
	}
	if s.Exists() {
		return nil, errcode.New(errcode.Conflict, "salesperson %s already exists", cmd.SalespersonID)
	}
	if claim.Email != "" && claim.Email != email {
		return nil, fmt.Errorf("relationships: claim %s passed for another address", claim.ID)
	}
	now = now.UTC()
	events := []Event{SalespersonRegistered{SalespersonID: cmd.SalespersonID, Name: name, Email: email,
		Role: cmd.Role, ManagerID: cmd.ManagerID, RegisteredAt: now}}
	switch claim.Holder {
	case cmd.SalespersonID:
	case "":
		events = append(events, SalespersonEmailClaimed{Email: email, SalespersonID: cmd.SalespersonID, ClaimedAt: now})
	default:
		err := errcode.New(errcode.Conflict, "this email is already used by another salesperson")
		err.Field = "email"
		return nil, err
	}
	return events, nil
}

// mustBe checks that sp, the aggregate loaded for id, exists and has role:
// NOT_FOUND or BAD_USER_INPUT on field otherwise.
func mustBe(sp Salesperson, id string, role Role, field string) error {
	if sp.ID != "" && sp.ID != id {
		return fmt.Errorf("relationships: salesperson %s passed for %s", sp.ID, id)
	}
	if !sp.Exists() {
		e := errcode.New(errcode.NotFound, "salesperson %s not found", id)
		e.Field = field
		return e
	}
	if sp.Role != role {
		return errcode.Invalid(field, "salesperson %s is not a %s", id, role)
	}
	return nil
}
