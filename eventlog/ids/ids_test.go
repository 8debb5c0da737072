package ids

import "testing"

func TestNewIsValid(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New(Customer)
		if !Valid(Customer, id) || Prefix(id) != Customer {
			t.Fatalf("New gave invalid id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestValidRejects(t *testing.T) {
	good := New(Deal)
	for _, id := range []string{"", "deal_", "deal_123", "cus_" + good[5:], good + "x", "DEAL" + good[4:],
		"deal_0B6F6C9E-3B0E-4A57-9A7E-2F1D2D2C4F10", "deal_0b6f6c9e03b0e-4a57-9a7e-2f1d2d2c4f10"} {
		if Valid(Deal, id) {
			t.Errorf("Valid(%q) = true", id)
		}
	}
	if Prefix("zzz_"+good[5:]) != "" {
		t.Error("unknown prefix accepted")
	}
}
