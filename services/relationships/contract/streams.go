package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// EmailClaimStreamID is the id of the claim stream of a salesperson email
// address: "email-" + the hex SHA-256 of the trimmed, lower-cased address.
// It is defined for any string, so the service can load the claim before
// the decision has validated the address.
func EmailClaimStreamID(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "email-" + hex.EncodeToString(sum[:])
}
