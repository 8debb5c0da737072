package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// Limits of the area's rules, in characters (runes); see
// docs/domain-campaigns.md.
const (
	MaxNameLen    = 200
	MaxProductLen = 200
	MaxReasonLen  = 500
)

// ReasonCustomerArchived is the lost reason of the reaction to a customer's
// archiving.
const ReasonCustomerArchived = "customer archived"

// CustomerFact is what the area's replica of the customers area knows about
// a customer.
type CustomerFact int

// The customer facts. The zero value is CustomerUnknown.
const (
	CustomerUnknown CustomerFact = iota
	CustomerActive
	CustomerArchived
)

// String names the fact for messages and test output.
func (f CustomerFact) String() string {
	switch f {
	case CustomerActive:
		return "active"
	case CustomerArchived:
		return "archived"
	}
	return "unknown"
}

// checkID refuses a malformed id given by the client, naming its field.
func checkID(field, prefix, id string) error {
	if id == "" {
		return errcode.Invalid(field, "is required")
	}
	if !ids.Valid(prefix, id) {
		return errcode.Invalid(field, "is not a valid %s id", prefix)
	}
	return nil
}

// checkOptionalID is checkID for an id the client may leave out.
func checkOptionalID(field, prefix, id string) error {
	if id == "" {
		return nil
	}
	return checkID(field, prefix, id)
}

// checkOwnID guards against a service bug: the id of a new entity is made
// by the service, not typed by a client, so a bad one is an internal error.
func checkOwnID(prefix, id string) error {
	if !ids.Valid(prefix, id) {
		return fmt.Errorf("campaigns: malformed new %s id %q", prefix, id)
	}
	return nil
}

// cleanText trims s and checks it: required, at most maxLen runes, valid
// UTF-8 without control characters (these are single-line fields).
func cleanText(field, s string, maxLen int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errcode.Invalid(field, "is required")
	}
	if !utf8.ValidString(s) {
		return "", errcode.Invalid(field, "is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", errcode.Invalid(field, "is %d characters long, at most %d allowed", n, maxLen)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", errcode.Invalid(field, "contains a control character")
	}
	return s, nil
}

// canonicalTime is the form times are stored in: UTC, microseconds (what
// PostgreSQL's timestamptz keeps, so read models round-trip exactly). A nil
// time stays nil; the result never aliases the argument.
func canonicalTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := t.UTC().Truncate(time.Microsecond)
	return &c
}

func notFound(field, format string, args ...any) error {
	e := errcode.New(errcode.NotFound, format, args...)
	e.Field = field
	return e
}

func conflict(format string, args ...any) error {
	return errcode.New(errcode.Conflict, format, args...)
}

// checkCampaign validates the id of a command on an existing campaign (the
// input field is named field) and that the loaded state is that campaign.
func checkCampaign(c Campaign, field, id string) error {
	if err := checkID(field, ids.Campaign, id); err != nil {
		return err
	}
	if !c.Exists() {
		return notFound(field, "campaign %s not found", id)
	}
	if c.ID != id {
		return fmt.Errorf("campaigns: state of %s given for command on %s", c.ID, id)
	}
	return nil
}

// checkDeal validates the id of a command on an existing deal and that the
// loaded state is that deal.
func checkDeal(d Deal, id string) error {
	if err := checkID("id", ids.Deal, id); err != nil {
		return err
	}
	if !d.Exists() {
		return notFound("id", "deal %s not found", id)
	}
	if d.ID != id {
		return fmt.Errorf("campaigns: state of %s given for command on %s", d.ID, id)
	}
	return nil
}
