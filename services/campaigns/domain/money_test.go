package domain

import (
	"testing"

	"crm/eventlog/errcode"
)

func TestCanonicalMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount, currency string
		want             Money  // when accepted
		field            string // when refused: "amount" or "currencyCode"
	}{
		{"1250", "EUR", Money{"1250.00", "EUR"}, ""},
		{"1250.00", "EUR", Money{"1250.00", "EUR"}, ""},
		{"1250.5", "usd", Money{"1250.50", "USD"}, ""},
		{"+0012.50", " gbp ", Money{"12.50", "GBP"}, ""},
		{"0.01", "EUR", Money{"0.01", "EUR"}, ""},
		{"10.000", "EUR", Money{"10.00", "EUR"}, ""}, // trailing zeros lose nothing
		{"150000", "JPY", Money{"150000", "JPY"}, ""},
		{"150000.00", "JPY", Money{"150000", "JPY"}, ""},
		{"1.234", "KWD", Money{"1.234", "KWD"}, ""},
		{"7", "BHD", Money{"7.000", "BHD"}, ""},
		{"999999999999999.99", "EUR", Money{"999999999999999.99", "EUR"}, ""},
		{"5", "XCG", Money{"5.00", "XCG"}, ""},

		{"", "EUR", Money{}, "amount"},
		{"  ", "EUR", Money{}, "amount"},
		{"0", "EUR", Money{}, "amount"},
		{"0.00", "EUR", Money{}, "amount"},
		{"-0", "EUR", Money{}, "amount"},
		{"-1", "EUR", Money{}, "amount"},
		{"1e3", "EUR", Money{}, "amount"},
		{"1,000.00", "EUR", Money{}, "amount"},
		{"1 000", "EUR", Money{}, "amount"},
		{".5", "EUR", Money{}, "amount"},
		{"5.", "EUR", Money{}, "amount"},
		{"1.2.3", "EUR", Money{}, "amount"},
		{"NaN", "EUR", Money{}, "amount"},
		{"Infinity", "EUR", Money{}, "amount"},
		{"١٢", "EUR", Money{}, "amount"}, // non-ASCII digits
		{"++1", "EUR", Money{}, "amount"},
		{"0.001", "EUR", Money{}, "amount"},
		{"1.5", "JPY", Money{}, "amount"},
		{"1000000000000000", "EUR", Money{}, "amount"},
		{"10", "", Money{}, "currencyCode"},
		{"10", "EU", Money{}, "currencyCode"},
		{"10", "EURO", Money{}, "currencyCode"},
		{"10", "XYZ", Money{}, "currencyCode"},
		{"10", "XAU", Money{}, "currencyCode"}, // gold is not a currency a deal is paid in
		{"10", "XXX", Money{}, "currencyCode"},
		{"10", "HRK", Money{}, "currencyCode"}, // withdrawn 2023
		{"10", "CLF", Money{}, "currencyCode"}, // fund code
		{"-1", "XYZ", Money{}, "currencyCode"}, // the currency is checked first
	}
	for _, tc := range tests {
		t.Run(tc.amount+"_"+tc.currency, func(t *testing.T) {
			t.Parallel()
			got, err := canonicalMoney("value", Money{Amount: tc.amount, CurrencyCode: tc.currency})
			if tc.field == "" {
				if err != nil || got != tc.want {
					t.Fatalf("= %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			e := errcode.Of(err)
			if e == nil || e.Code != errcode.BadUserInput || e.Field != "value."+tc.field {
				t.Fatalf("= %v, %v; want BAD_USER_INPUT on value.%s", got, err, tc.field)
			}
		})
	}
}

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
