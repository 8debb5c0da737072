package wire

import (
	"testing"

	"crm/eventlog/errcode"
)

func TestToken(t *testing.T) {
	t.Parallel()
	tok, err := ParseToken(" customers:12, relationships:40,customers:3")
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 2 || tok["customers"] != 12 || tok["relationships"] != 40 {
		t.Fatalf("parsed %v", tok)
	}
	back, err := ParseToken(tok.String())
	if err != nil || len(back) != 2 || back["customers"] != 12 || back["relationships"] != 40 {
		t.Fatalf("round trip %q: %v, %v", tok.String(), back, err)
	}
	if tok, err := ParseToken(""); tok != nil || err != nil {
		t.Fatalf("empty token: %v, %v", tok, err)
	}
	for _, bad := range []string{"customers", "customers:-1", ":3", "customers:x", "a:1,,b:2"} {
		if _, err := ParseToken(bad); errcode.CodeOf(err) != errcode.BadUserInput {
			t.Errorf("ParseToken(%q): %v, want BAD_USER_INPUT", bad, err)
		}
	}
}

func TestCommandPath(t *testing.T) {
	t.Parallel()
	if p := CommandPath(RegisterCustomer); p != "/commands/register-customer" {
		t.Fatalf("path %q", p)
	}
}
