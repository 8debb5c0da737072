package contract

import "testing"

func TestCurrencyMinorUnits(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]int{"EUR": 2, "USD": 2, "JPY": 0, "KRW": 0, "ISK": 0, "TND": 3, "CHF": 2} {
		if got, ok := CurrencyMinorUnits(code); !ok || got != want {
			t.Errorf("CurrencyMinorUnits(%s) = %d, %v; want %d", code, got, ok, want)
		}
	}
	if _, ok := CurrencyMinorUnits("eur"); ok {
		t.Error("lower-case code accepted; callers normalize first")
	}
	for code := range currencies {
		if len(code) != 3 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' || code[2] < 'A' || code[2] > 'Z' {
			t.Errorf("malformed code %q in the table", code)
		}
	}
	if n := len(currencies); n < 150 || n > 170 {
		t.Errorf("table holds %d codes; ISO 4217 has about 155 circulating currencies", n)
	}
}
