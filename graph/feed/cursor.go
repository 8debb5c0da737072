package feed

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"crm/eventlog/errcode"
	"crm/projector"
)

// Areas are the areas the feed follows, in the fixed order cursors list
// them and ties between areas break.
var Areas = []string{projector.AreaCustomers, projector.AreaAppointments, projector.AreaRelationships, projector.AreaCampaigns}

// cursorKeys name the areas in a cursor's text, in the order of Areas.
var cursorKeys = []string{"c", "a", "r", "p"}

const cursorVersion = "v1"

// Position is a place in the feed of a set of areas: for each area of the
// set, the position of the last event delivered (0: none yet). A feed
// resumes after it: with each area's next position.
type Position map[string]int64

// Encode returns the opaque cursor of p: base64url (no padding) of
// "v1:c=12,a=0,r=3,p=9", one key per area of p in the order of Areas
// (c customers, a appointments, r relationships, p campaigns).
func (p Position) Encode() string {
	var b strings.Builder
	b.WriteString(cursorVersion)
	sep := byte(':')
	for i, area := range Areas {
		pos, ok := p[area]
		if !ok {
			continue
		}
		b.WriteByte(sep)
		sep = ','
		b.WriteString(cursorKeys[i])
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(pos, 10))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

// Copy returns a copy of p.
func (p Position) Copy() Position {
	out := make(Position, len(p))
	for a, n := range p {
		out[a] = n
	}
	return out
}

// errBadCursor is the answer to any cursor that is not the feed's.
func errBadCursor(why string) error {
	return errcode.Invalid("after", "not a cursor of the event feed: %s", why)
}

// Decode parses a cursor from Encode. Errors: BAD_USER_INPUT with field
// "after".
func Decode(s string) (Position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 200 {
		return nil, errBadCursor("not base64url")
	}
	version, rest, ok := strings.Cut(string(raw), ":")
	if !ok || version != cursorVersion || rest == "" {
		return nil, errBadCursor("unknown format")
	}
	p := Position{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		i := slices.Index(cursorKeys, k)
		if !ok || i < 0 {
			return nil, errBadCursor("unknown area " + strconv.Quote(k))
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != v {
			return nil, errBadCursor("bad position")
		}
		if _, dup := p[Areas[i]]; dup {
			return nil, errBadCursor("area given twice")
		}
		p[Areas[i]] = n
	}
	return p, nil
}

// Start is where a feed of areas begins: after the cursor when one is
// given (it must hold every area of the set; the positions of other areas
// it holds are ignored), else nil (the caller chooses: now for a
// subscription, the beginning for a page). Errors: BAD_USER_INPUT with
// field "after".
func Start(areas []string, after *string) (Position, error) {
	if after == nil {
		return nil, nil
	}
	p, err := Decode(*after)
	if err != nil {
		return nil, err
	}
	out := make(Position, len(areas))
	for _, a := range areas {
		n, ok := p[a]
		if !ok {
			return nil, errBadCursor("it does not hold area " + a)
		}
		out[a] = n
	}
	return out, nil
}

// AreaSet returns the areas of names (as stored: "customers"...) in the
// order of Areas, every area when names is empty. An unknown name is
// BAD_USER_INPUT with field "areas".
func AreaSet(names []string) ([]string, error) {
	if len(names) == 0 {
		return slices.Clone(Areas), nil
	}
	var out []string
	for _, a := range Areas {
		if slices.Contains(names, a) {
			out = append(out, a)
		}
	}
	for _, n := range names {
		if !slices.Contains(Areas, n) {
			return nil, errcode.Invalid("areas", "unknown area %q", n)
		}
	}
	return out, nil
}
