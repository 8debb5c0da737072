package contact

import (
	"strings"
	"testing"

	"crm/eventlog/errcode"
)

func TestNormalizeEmail(t *testing.T) {
	if got, err := NormalizeEmail("  Ada.Lovelace+crm@Example.CO.uk "); err != nil || got != "ada.lovelace+crm@example.co.uk" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []string{"", "ada", "ada@", "@x.io", "a..b@x.io", ".a@x.io", "a@x", "a@-x.io", "a@x.123",
		strings.Repeat("a", 65) + "@x.io", "a@" + strings.Repeat("x", 64) + ".io", "ä@x.io", "a b@x.io"} {
		if _, err := NormalizeEmail(bad); errcode.CodeOf(err) != errcode.BadUserInput || errcode.Of(err).Field != "email" {
			t.Errorf("NormalizeEmail(%q) = %v, want BAD_USER_INPUT on email", bad, err)
		}
	}
}
