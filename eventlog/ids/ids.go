// Package ids makes and checks the entity ids of the system: a short type
// prefix and a random UUID, e.g. "cus_0b6f6c9e-3b0e-4a57-9a7e-2f1d2d2c4f10".
// The prefix tells a node's type without a lookup and lets every service
// reject a malformed or misdirected id before touching storage.
package ids

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// The prefixes of the entity types.
const (
	Customer    = "cus"
	Salesperson = "sp"
	Appointment = "apt"
	Campaign    = "cmp"
	Offer       = "off"
	Deal        = "deal"
)

// New returns a fresh id with the given prefix.
func New(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("ids: crypto/rand: %v", err))
	}
	b[6] = (b[6] & 0x0f) | 0x40 // version 4
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%s_%x-%x-%x-%x-%x", prefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Valid reports whether id is a well-formed id of the given prefix.
func Valid(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	return ok && isUUID(rest)
}

// Prefix returns the type prefix of a well-formed id, or "" when id is not one.
func Prefix(id string) string {
	p, rest, ok := strings.Cut(id, "_")
	if !ok || !isUUID(rest) {
		return ""
	}
	switch p {
	case Customer, Salesperson, Appointment, Campaign, Offer, Deal:
		return p
	}
	return ""
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
