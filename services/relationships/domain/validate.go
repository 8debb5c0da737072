package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"crm/eventlog/errcode"
	"crm/eventlog/ids"
)

// Limits on the area's inputs. The customer area applies the same name and
// email rules; the two areas share no code, so they are kept in step by
// their tests and docs.
const (
	MaxNameLen       = 200 // characters
	MaxEmailLen      = 254 // RFC 5321 path limit
	maxEmailLocalLen = 64
	maxDomainLabel   = 63
	MaxInterestLen   = 100 // characters
	MaxInterests     = 100 // interests per customer
)

// EmailClaimStreamID is the id of the claim stream of a salesperson email
// address: "email-" + the hex SHA-256 of the trimmed, lower-cased address.
// It is defined for any string, so the service can load the claim before
// the decision has validated the address.
func EmailClaimStreamID(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "email-" + hex.EncodeToString(sum[:])
}

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

// normalizeEmail trims and lower-cases an email address and checks its
// syntax: an unquoted dot-atom local part of at most 64 characters, "@",
// and a host name of at least two labels (letters, digits, inner hyphens;
// internationalized domains in their xn-- form) whose last label is not
// numeric. Quoted local parts, IP literals and non-ASCII addresses are
// refused: mail systems and users rarely handle them.
func normalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", errcode.Invalid("email", "email is required")
	}
	if len(s) > MaxEmailLen {
		return "", errcode.Invalid("email", "email is longer than %d characters", MaxEmailLen)
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || !validLocalPart(local) || !validDomain(domain) {
		return "", errcode.Invalid("email", "email is not a valid address")
	}
	return s, nil
}

func validLocalPart(s string) bool {
	if s == "" || len(s) > maxEmailLocalLen || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune(".!#$%&'*+/=?^_`{|}~-", rune(c)) {
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxDomainLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

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
