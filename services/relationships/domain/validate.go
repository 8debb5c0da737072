package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"crm/eventlog/contact"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// Limits on the area's inputs. The customer area applies the same name and
// email rules; the two areas share no code, so they are kept in step by
// their tests and docs.
const (
	MaxNameLen     = 200 // characters
	MaxEmailLen    = contact.MaxEmailLen
	MaxInterestLen = 100 // characters
	MaxInterests   = 100 // interests per customer
)

// cleanText trims s and collapses every run of white space (also tabs and
// newlines) into one space. It refuses invalid UTF-8, other control
// characters and more than max characters; min is 0 or 1.
func cleanText(field, s string, min, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", errcode.Invalid(field, "%s is not valid UTF-8", field)
	}
	s = strings.Join(strings.Fields(s), " ")
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", errcode.Invalid(field, "%s contains control characters", field)
		}
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		return "", errcode.Invalid(field, "%s is required", field)
	}
	if n > max {
		return "", errcode.Invalid(field, "%s is longer than %d characters", field, max)
	}
	return s, nil
}

// normalizeEmail is the shared email rule (contact.NormalizeEmail): every
// area accepts and normalizes addresses alike.
func normalizeEmail(s string) (string, error) { return contact.NormalizeEmail(s) }

// validID checks an id's prefix and form; an empty id is refused unless
// optional.
func validID(field, prefix, id string, optional bool) error {
	if id == "" && optional {
		return nil
	}
	if id == "" {
		return errcode.Invalid(field, "%s is required", field)
	}
	if !ids.Valid(prefix, id) {
		return errcode.Invalid(field, "%s is not a valid id", field)
	}
	return nil
}

// indexFold returns the index of the entry of list equal to s under Unicode
// case folding, or -1.
func indexFold(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}
