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

// Limits of the area's rules; see docs/domain-appointments.md.
const (
	// MaxDuration is the longest an appointment may last.
	MaxDuration = 8 * time.Hour
	// MaxAhead is how far in the future an appointment may start: a guard
	// against typed years (2205 for 2025), not a business horizon.
	MaxAhead = 5 * 365 * 24 * time.Hour
	// MaxBehind is how far in the past an appointment may start, so that a
	// meeting can be recorded after the fact but not decades back.
	MaxBehind = 365 * 24 * time.Hour
	// MaxLocationLen, MaxReasonLen and MaxNotesLen are in characters (runes).
	MaxLocationLen = 200
	MaxReasonLen   = 500
	MaxNotesLen    = 4000
)

// ReasonCustomerArchived is the cancellation reason of the reaction to a
// customer's archiving.
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

// checkOwnID guards against a service bug: the id of a new entity is made
// by the service, not typed by a client, so a bad one is an internal error.
func checkOwnID(prefix, id string) error {
	if !ids.Valid(prefix, id) {
		return fmt.Errorf("appointments: malformed new %s id %q", prefix, id)
	}
	return nil
}

// cleanText trims s and checks its length in runes and its characters:
// no control characters, except newlines and tabs when multiline.
func cleanText(field, s string, required bool, maxLen int, multiline bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			return "", errcode.Invalid(field, "is required")
		}
		return "", nil
	}
	if !utf8.ValidString(s) {
		return "", errcode.Invalid(field, "is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", errcode.Invalid(field, "is %d characters long, at most %d allowed", n, maxLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			return "", errcode.Invalid(field, "contains a control character")
		}
	}
	return s, nil
}

// canonicalTime is the form times are stored in: UTC, microseconds (what
// PostgreSQL's timestamptz keeps, so read models round-trip exactly).
func canonicalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// checkTimes validates and normalizes an appointment's interval.
func checkTimes(startsAt, endsAt, now time.Time) (time.Time, time.Time, error) {
	if startsAt.IsZero() {
		return startsAt, endsAt, errcode.Invalid("startsAt", "is required")
	}
	if endsAt.IsZero() {
		return startsAt, endsAt, errcode.Invalid("endsAt", "is required")
	}
	startsAt, endsAt = canonicalTime(startsAt), canonicalTime(endsAt)
	if !endsAt.After(startsAt) {
		return startsAt, endsAt, errcode.Invalid("endsAt", "must be after startsAt")
	}
	if endsAt.Sub(startsAt) > MaxDuration {
		return startsAt, endsAt, errcode.Invalid("endsAt", "an appointment lasts at most %s", "8 hours")
	}
	if startsAt.After(now.Add(MaxAhead)) {
		return startsAt, endsAt, errcode.Invalid("startsAt", "is more than 5 years ahead")
	}
	if startsAt.Before(now.Add(-MaxBehind)) {
		return startsAt, endsAt, errcode.Invalid("startsAt", "is more than a year in the past")
	}
	return startsAt, endsAt, nil
}

// checkCustomer turns the replica's fact into NOT_FOUND or CONFLICT.
func checkCustomer(f CustomerFact, customerID string) error {
	switch f {
	case CustomerActive:
		return nil
	case CustomerArchived:
		return errcode.New(errcode.Conflict, "customer %s is archived", customerID)
	}
	return notFound("customerId", "customer %s not found", customerID)
}

func notFound(field, format string, args ...any) error {
	e := errcode.New(errcode.NotFound, format, args...)
	e.Field = field
	return e
}

// checkTarget validates the id of a command on an existing appointment and
// that the state the service loaded is that appointment.
func checkTarget(a Appointment, id string) error {
	if err := checkID("id", ids.Appointment, id); err != nil {
		return err
	}
	if !a.Exists() {
		return notFound("id", "appointment %s not found", id)
	}
	if a.ID != id {
		return fmt.Errorf("appointments: state of %s given for command on %s", a.ID, id)
	}
	return nil
}

// checkCalendar guards against a service bug: a decision needs the calendar
// of the appointment's salesperson (the zero calendar is an empty one).
func checkCalendar(c Calendar, salespersonID string) error {
	if c.SalespersonID != "" && c.SalespersonID != salespersonID {
		return fmt.Errorf("appointments: calendar of %s given for salesperson %s", c.SalespersonID, salespersonID)
	}
	return nil
}

func overlapConflict(s Slot) error {
	return errcode.New(errcode.Conflict, "the salesperson already has appointment %s from %s to %s",
		s.AppointmentID, s.StartsAt.Format(time.RFC3339), s.EndsAt.Format(time.RFC3339))
}
