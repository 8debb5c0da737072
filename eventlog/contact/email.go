// Package contact validates contact data the areas share a definition of
// (email addresses), so that every area accepts and normalizes them alike.
// It imports only the standard library and errcode, so domains may use it.
package contact

import (
	"strings"

	"crm/eventlog/errcode"
)

// Email length limits.
const (
	MaxEmailLen      = 254 // RFC 5321 path limit
	maxEmailLocalLen = 64
	maxDomainLabel   = 63
)

// NormalizeEmail trims and lower-cases an email address and checks its
// syntax: an unquoted dot-atom local part of at most 64 characters, "@",
// and a host name of at least two labels (letters, digits, inner hyphens;
// internationalized domains in their xn-- form) whose last label is not
// numeric. Quoted local parts, IP literals and non-ASCII addresses are
// refused: mail systems and users rarely handle them. Refusals are
// BAD_USER_INPUT on field "email".
func NormalizeEmail(s string) (string, error) {
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
