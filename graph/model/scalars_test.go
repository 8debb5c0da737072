package model

import (
	"bytes"
	"encoding/json"
	"testing"

	"crm/eventlog/errcode"
)

func TestDecimal(t *testing.T) {
	t.Parallel()
	for _, ok := range []any{"0", "1250.00", "-3.5", "007", json.Number("12.5"), 42, int64(7)} {
		var d Decimal
		if err := d.UnmarshalGQL(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, bad := range []any{"", "1e5", "+1", "1.", ".5", "NaN", "1,5", " 1", 1.5, true, nil} {
		var d Decimal
		if err := d.UnmarshalGQL(bad); errcode.CodeOf(err) != errcode.BadUserInput {
			t.Errorf("%v: got %v, want BAD_USER_INPUT", bad, err)
		}
	}
	var buf bytes.Buffer
	Decimal("1250.00").MarshalGQL(&buf)
	if buf.String() != `"1250.00"` {
		t.Fatalf("marshal: %s", buf.String())
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	JSON(`{"a":1}`).MarshalGQL(&buf)
	JSON(nil).MarshalGQL(&buf)
	if buf.String() != `{"a":1}null` {
		t.Fatalf("marshal: %s", buf.String())
	}
	var j JSON
	if err := j.UnmarshalGQL(map[string]any{"b": []any{1, "x"}}); err != nil || string(j) != `{"b":[1,"x"]}` {
		t.Fatalf("unmarshal: %s %v", j, err)
	}
}
