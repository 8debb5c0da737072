package domain

import (
	"strings"
	"testing"

	"crm/eventlog/errcode"
	"crm/services/relationships/contract"
)

// The same cases as the customer area's: the rules must stay in step.
func TestEmailSyntax(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"ada@example.com":                         "ada@example.com",
		"  Ada.Lovelace+crm@Mail.Example.CO.uk  ": "ada.lovelace+crm@mail.example.co.uk",
		"o'brien@example.ie":                      "o'brien@example.ie",
		"x@xn--mller-kva.de":                      "x@xn--mller-kva.de",
		strings.Repeat("l", 64) + "@example.com":  strings.Repeat("l", 64) + "@example.com",
	}
	for in, want := range good {
		got, err := normalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("normalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	long := strings.Repeat("a", 60) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".com"
	for _, in := range []string{
		"", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", ".ada@example.com",
		"a..da@example.com", "ada lovelace@example.com", "ada@-example.com", "ada@example..com",
		"ada@1.2.3.4", `"ada"@example.com`, "Ada <ada@example.com>", "ädä@example.com",
		strings.Repeat("l", 65) + "@example.com", "a@" + strings.Repeat("b", 64) + ".com", long,
	} {
		if _, err := normalizeEmail(in); errcode.CodeOf(err) != errcode.BadUserInput || errcode.Of(err).Field != "email" {
			t.Errorf("normalizeEmail(%q) = %v, want BAD_USER_INPUT on email", in, err)
		}
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	if got, err := cleanText("interest", " a \t b\n c ", 1, 5); err != nil || got != "a b c" {
		t.Errorf("cleanText = %q, %v", got, err)
	}
	for _, in := range []string{"", "  ", "abcdef", "a\x7fb", "\xff"} {
		if _, err := cleanText("interest", in, 1, 5); errcode.CodeOf(err) != errcode.BadUserInput {
			t.Errorf("cleanText(%q) = %v, want BAD_USER_INPUT", in, err)
		}
	}
}

func TestEmailClaimStreamID(t *testing.T) {
	t.Parallel()
	id := contract.EmailClaimStreamID("ada@example.com")
	if id != contract.EmailClaimStreamID(" ADA@example.COM ") || id == contract.EmailClaimStreamID("bob@example.com") ||
		!strings.HasPrefix(id, "email-") || len(id) != 70 {
		t.Errorf("claim stream id %q", id)
	}
}
