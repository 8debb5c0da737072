package readstore

import (
	"testing"
	"time"

	"crm/eventlog/errcode"
	"crm/graph/model"
)

func TestParsePage(t *testing.T) {
	t.Parallel()
	n := func(i int) *int { return &i }
	s := func(v string) *string { return &v }
	if p, err := ParsePage(nil, nil); err != nil || p != (Page{First: DefaultFirst}) {
		t.Fatalf("defaults: %+v %v", p, err)
	}
	if p, err := ParsePage(n(100), s(SeqCursor(42))); err != nil || p != (Page{First: 100, After: 42}) {
		t.Fatalf("cursor: %+v %v", p, err)
	}
	for _, c := range []struct {
		first *int
		after *string
		field string
	}{
		{n(101), nil, "first"}, {n(-1), nil, "first"},
		{nil, s("x"), "after"}, {nil, s(""), "after"}, {nil, s("c2VxOi0x"), "after"}, // "seq:-1"
		{nil, s(EventCursor(&model.Event{OccurredAt: time.Unix(1, 0), AreaName: "customers"})), "after"},
	} {
		_, err := ParsePage(c.first, c.after)
		if e := errcode.Of(err); e == nil || e.Code != errcode.BadUserInput || e.Field != c.field {
			t.Errorf("%v %v: %v", c.first, c.after, err)
		}
	}
	ev := &model.Event{OccurredAt: time.Date(2030, 1, 1, 0, 0, 0, 1000, time.UTC), AreaName: "relationships", PositionNum: 7}
	ec, err := parseEventCursor(EventCursor(ev))
	if err != nil || !ec.at.Equal(ev.OccurredAt) || ec.area != "relationships" || ec.position != 7 {
		t.Fatalf("event cursor: %+v %v", ec, err)
	}
	if _, err := parseEventCursor(SeqCursor(1)); errcode.CodeOf(err) != errcode.BadUserInput {
		t.Fatalf("seq cursor taken for an event cursor")
	}
}

func TestLikePattern(t *testing.T) {
	t.Parallel()
	if got := likePattern(`50%_a\b`); got != `%50\%\_a\\b%` {
		t.Fatalf("%s", got)
	}
}
