package feed

import (
	"encoding/base64"
	"maps"
	"slices"
	"testing"
	"time"

	"crm/eventlog/errcode"
	"crm/graph/model"
)

// A cursor decodes to the positions it was made of, whatever areas it
// holds; anything else is BAD_USER_INPUT on field after.
func TestCursorRoundTrip(t *testing.T) {
	for _, p := range []Position{
		{"customers": 0, "appointments": 0, "relationships": 0, "campaigns": 0},
		{"customers": 123, "appointments": 45, "relationships": 0, "campaigns": 9},
		{"relationships": 1 << 62},
		{"campaigns": 7, "customers": 1},
	} {
		c := p.Encode()
		got, err := Decode(c)
		if err != nil || !maps.Equal(got, p) {
			t.Fatalf("Decode(Encode(%v)) = %v, %v", p, got, err)
		}
	}
	if raw, _ := base64.RawURLEncoding.DecodeString(Position{"customers": 123, "appointments": 45, "relationships": 0, "campaigns": 9}.Encode()); string(raw) != "v1:c=123,a=45,r=0,p=9" {
		t.Fatalf("cursor text %q", raw)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"", "!!", b64("v2:c=1"), b64("v1:"), b64("v1"), b64("v1:x=1"), b64("v1:c=-1"),
		b64("v1:c=01"), b64("v1:c=1,c=2"), b64("v1:c=1,"), b64("v1:c"), b64("seq:12"), b64("v1:c=99999999999999999999")} {
		if _, err := Decode(bad); errcode.CodeOf(err) != errcode.BadUserInput || errcode.Of(err).Field != "after" {
			t.Errorf("Decode(%q) = %v, want BAD_USER_INPUT on after", bad, err)
		}
	}
	// Start: a cursor of more areas resumes a feed of fewer; one missing an
	// area asked for is refused.
	all := Position{"customers": 3, "appointments": 4, "relationships": 5, "campaigns": 6}.Encode()
	got, err := Start([]string{"customers", "campaigns"}, &all)
	if err != nil || !maps.Equal(got, Position{"customers": 3, "campaigns": 6}) {
		t.Fatalf("Start subset = %v, %v", got, err)
	}
	one := Position{"customers": 3}.Encode()
	if _, err := Start(Areas, &one); errcode.CodeOf(err) != errcode.BadUserInput {
		t.Fatalf("Start with a cursor missing areas: %v", err)
	}
	if p, err := Start(Areas, nil); p != nil || err != nil {
		t.Fatalf("Start(nil) = %v, %v", p, err)
	}
	if set, err := AreaSet(nil); err != nil || !slices.Equal(set, Areas) {
		t.Fatalf("AreaSet(nil) = %v, %v", set, err)
	}
	if set, _ := AreaSet([]string{"campaigns", "customers"}); !slices.Equal(set, []string{"customers", "campaigns"}) {
		t.Fatalf("AreaSet keeps the fixed order: %v", set)
	}
	if _, err := AreaSet([]string{"nope"}); errcode.CodeOf(err) != errcode.BadUserInput {
		t.Fatalf("AreaSet(nope): %v", err)
	}
}

// Only each area's gap-free run after the position counts; the merge
// orders by time across areas but never reorders an area.
func TestContiguousAndMerge(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(area string, pos int64, sec int) *model.Event {
		return &model.Event{AreaName: area, PositionNum: pos, OccurredAt: t0.Add(time.Duration(sec) * time.Second)}
	}
	rows := []*model.Event{
		ev("appointments", 5, 9), ev("appointments", 6, 1), ev("appointments", 8, 2), // 7 not visible yet
		ev("customers", 2, 3), ev("customers", 3, 4),
		ev("relationships", 1, 0), // not followed
	}
	got := contiguous(rows, Position{"customers": 0, "appointments": 4})
	if len(got["customers"]) != 0 || len(got["appointments"]) != 2 || len(got["relationships"]) != 0 {
		t.Fatalf("contiguous = %v", got)
	}
	got = contiguous(rows, Position{"customers": 1, "appointments": 4})
	var order []string
	for _, e := range merge(got, -1) {
		order = append(order, e.AreaName[:1]+string(rune('0'+e.PositionNum)))
	}
	// appointments 5 (at 9 s) precedes appointments 6 (at 1 s): per-area
	// order wins over the clock; customers interleave by time.
	if want := []string{"c2", "c3", "a5", "a6"}; !slices.Equal(order, want) {
		t.Fatalf("merge order %v, want %v", order, want)
	}
	if n := len(merge(got, 3)); n != 3 {
		t.Fatalf("merge limit: %d", n)
	}
}
