package domain

import (
	"strings"
	"testing"

	"crm/eventlog/errcode"
	"crm/services/customers/contract"
)

func TestEmailSyntax(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"ada@example.com":                         "ada@example.com",
		"  Ada.Lovelace+crm@Mail.Example.CO.uk  ": "ada.lovelace+crm@mail.example.co.uk",
		"o'brien@example.ie":                      "o'brien@example.ie",
		"x@xn--mller-kva.de":                      "x@xn--mller-kva.de",
		"a_b-c@sub-domain.example123.org":         "a_b-c@sub-domain.example123.org",
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
		"", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "ada@exa@mple.com",
		".ada@example.com", "ada.@example.com", "a..da@example.com", "ada lovelace@example.com",
		"ada@-example.com", "ada@example-.com", "ada@exa_mple.com", "ada@example..com", "ada@.example.com",
		"ada@example.com.", "ada@1.2.3.4", "ada@[127.0.0.1]", `"ada"@example.com`, "ada(x)@example.com",
		"Ada <ada@example.com>", "ädä@example.com", "ada@exämple.com", "ada@example.c\x00m",
		strings.Repeat("l", 65) + "@example.com", "a@" + strings.Repeat("b", 64) + ".com", long,
	} {
		if _, err := normalizeEmail(in); errcode.CodeOf(err) != errcode.BadUserInput || errcode.Of(err).Field != "email" {
			t.Errorf("normalizeEmail(%q) = %v, want BAD_USER_INPUT on email", in, err)
		}
	}
}

func TestPhoneSyntax(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"":                    "",
		"   ":                 "",
		"+49301234567":        "+49301234567",
		" +49 (30) 123-4567 ": "+49301234567",
		"0049 30 1234567":     "+49301234567",
		"+1 415.555.0100":     "+14155550100",
		"+683 4002":           "+6834002",
		"+44/20/7946/0958":    "+442079460958",
		"+123456789012345":    "+123456789012345",
	}
	for in, want := range good {
		got, err := normalizePhone(in)
		if err != nil || got != want {
			t.Errorf("normalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"030 1234567", "49301234567", "+", "+123456", "+1234567890123456", "+0 30 1234567",
		"+49 30 1234567 ext 12", "+49-30-CALLNOW", "+49 30 1234567#", "++49301234567",
		"+49 30 123 456 789 012 345 678 901 23",
	} {
		if _, err := normalizePhone(in); errcode.CodeOf(err) != errcode.BadUserInput || errcode.Of(err).Field != "phone" {
			t.Errorf("normalizePhone(%q) = %v, want BAD_USER_INPUT on phone", in, err)
		}
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	if got, err := cleanText("name", " a \t b\n c ", 1, 5); err != nil || got != "a b c" {
		t.Errorf("cleanText = %q, %v", got, err)
	}
	if got, err := cleanText("name", "ééééé", 1, 5); err != nil || got != "ééééé" {
		t.Errorf("cleanText counts bytes, not characters: %q, %v", got, err)
	}
	for _, in := range []string{"", "  ", "abcdef", "a\x7fb", "a\u0085b\x01", "\xff"} {
		if _, err := cleanText("name", in, 1, 5); errcode.CodeOf(err) != errcode.BadUserInput {
			t.Errorf("cleanText(%q) = %v, want BAD_USER_INPUT", in, err)
		}
	}
}

func TestEmailClaimStreamID(t *testing.T) {
	t.Parallel()
	id := contract.EmailClaimStreamID("ada@example.com")
	if id != contract.EmailClaimStreamID("  ADA@Example.com ") {
		t.Error("claim stream id depends on case or spaces")
	}
	if id == contract.EmailClaimStreamID("bob@example.com") || !strings.HasPrefix(id, "email-") || len(id) != 70 {
		t.Errorf("claim stream id %q", id)
	}
	if strings.Contains(id, "ada") {
		t.Errorf("claim stream id %q leaks the address", id)
	}
}
