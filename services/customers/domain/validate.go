package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"crm/eventlog/contact"
	"crm/eventlog/errcode"
)

// Limits on the contact data. The issue fixes the name's; the others are
// what mail and phone standards allow, and what a postal address needs.
const (
	MaxNameLen       = 200 // characters
	MaxEmailLen      = contact.MaxEmailLen
	MinPhoneDigits   = 7  // the shortest national numbers plus country code
	MaxPhoneDigits   = 15 // E.164
	maxPhoneInputLen = 32
	MaxStreetLen     = 200
	MaxCityLen       = 100
	MaxPostalCodeLen = 20
	MaxCountryLen    = 100
	MaxReasonLen     = 500
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

// normalizeName trims the name; it must have 1 to MaxNameLen characters.
func normalizeName(s string) (string, error) {
	return cleanText("name", s, 1, MaxNameLen)
}

// normalizeEmail is the shared email rule (contact.NormalizeEmail): every
// area accepts and normalizes addresses alike.
func normalizeEmail(s string) (string, error) { return contact.NormalizeEmail(s) }

// normalizePhone turns an international phone number into canonical E.164
// ("+" and 7 to 15 digits, the first not 0). The input starts with "+" or
// the international prefix "00"; spaces, hyphens, dots, slashes and
// parentheses between digits are dropped. An empty input means no phone.
func normalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > maxPhoneInputLen {
		return "", errcode.Invalid("phone", "phone is longer than %d characters", maxPhoneInputLen)
	}
	var rest string
	switch {
	case strings.HasPrefix(s, "+"):
		rest = s[1:]
	case strings.HasPrefix(s, "00"):
		rest = s[2:]
	default:
		return "", errcode.Invalid("phone", "phone must be in international form, e.g. +49 30 1234567")
	}
	digits := make([]byte, 0, MaxPhoneDigits)
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case '0' <= c && c <= '9':
			digits = append(digits, c)
		case strings.IndexByte(" -./()", c) >= 0:
		default:
			return "", errcode.Invalid("phone", "phone may contain only digits and separators")
		}
	}
	if len(digits) < MinPhoneDigits || len(digits) > MaxPhoneDigits {
		return "", errcode.Invalid("phone", "phone must have %d to %d digits", MinPhoneDigits, MaxPhoneDigits)
	}
	if digits[0] == '0' {
		return "", errcode.Invalid("phone", "phone must start with a country code")
	}
	return "+" + string(digits), nil
}

// normalizeAddress trims every field of a; nil, or an address whose fields
// are all empty, is no address (nil).
func normalizeAddress(a *Address) (*Address, error) {
	if a == nil {
		return nil, nil
	}
	var out Address
	var err error
	if out.Street, err = cleanText("address.street", a.Street, 0, MaxStreetLen); err != nil {
		return nil, err
	}
	if out.City, err = cleanText("address.city", a.City, 0, MaxCityLen); err != nil {
		return nil, err
	}
	if out.PostalCode, err = cleanText("address.postalCode", a.PostalCode, 0, MaxPostalCodeLen); err != nil {
		return nil, err
	}
	if out.Country, err = cleanText("address.country", a.Country, 0, MaxCountryLen); err != nil {
		return nil, err
	}
	if out == (Address{}) {
		return nil, nil
	}
	return &out, nil
}
