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
		{"1250", "EUR", Money{Amount: "1250.00", CurrencyCode: "EUR"}, ""},
		{"1250.00", "EUR", Money{Amount: "1250.00", CurrencyCode: "EUR"}, ""},
		{"1250.5", "usd", Money{Amount: "1250.50", CurrencyCode: "USD"}, ""},
		{"+0012.50", " gbp ", Money{Amount: "12.50", CurrencyCode: "GBP"}, ""},
		{"0.01", "EUR", Money{Amount: "0.01", CurrencyCode: "EUR"}, ""},
		{"10.000", "EUR", Money{Amount: "10.00", CurrencyCode: "EUR"}, ""}, // trailing zeros lose nothing
		{"150000", "JPY", Money{Amount: "150000", CurrencyCode: "JPY"}, ""},
		{"150000.00", "JPY", Money{Amount: "150000", CurrencyCode: "JPY"}, ""},
		{"1.234", "KWD", Money{Amount: "1.234", CurrencyCode: "KWD"}, ""},
		{"7", "BHD", Money{Amount: "7.000", CurrencyCode: "BHD"}, ""},
		{"999999999999999.99", "EUR", Money{Amount: "999999999999999.99", CurrencyCode: "EUR"}, ""},
		{"5", "XCG", Money{Amount: "5.00", CurrencyCode: "XCG"}, ""},

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
