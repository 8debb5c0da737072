package wire

import (
	"strconv"
	"strings"

	"crm/eventlog/errcode"
)

// Token is a consistency token: for each area, the log position of the
// latest write its holder has seen. A service that depends on another
// area's data waits until its replica has applied that area's log up to the
// token's position before deciding. It travels in HeaderConsistencyToken.
type Token map[string]int64

// ParseToken parses "area:position,area:position" (empty: no token). A
// malformed token is BAD_USER_INPUT on field consistencyToken.
func ParseToken(s string) (Token, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 500 {
		return nil, errcode.Invalid("consistencyToken", "the consistency token is too long")
	}
	t := Token{}
	for _, part := range strings.Split(s, ",") {
		area, pos, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.ParseInt(pos, 10, 64)
		if !ok || err != nil || n < 0 || area == "" || len(area) > 40 {
			return nil, errcode.Invalid("consistencyToken", "the consistency token must look like customers:12,relationships:40")
		}
		t[area] = max(t[area], n)
	}
	return t, nil
}

// String formats the token for HeaderConsistencyToken.
func (t Token) String() string {
	var parts []string
	for a, p := range t {
		parts = append(parts, a+":"+strconv.FormatInt(p, 10))
	}
	return strings.Join(parts, ",")
}
