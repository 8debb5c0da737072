package domain

import (
	"strings"

	"crm/eventlog/errcode"
	"crm/services/campaigns/contract"
)

// canonicalMoney validates a money input and returns it canonical: the
// currency code trimmed and upper-cased, the amount as a plain decimal with
// no sign, no leading zeros and exactly the currency's minor-unit digits.
// Errors are BAD_USER_INPUT on field+".currencyCode" or field+".amount".
func canonicalMoney(field string, m Money) (Money, error) {
	code := strings.ToUpper(strings.TrimSpace(m.CurrencyCode))
	if code == "" {
		return Money{}, errcode.Invalid(field+".currencyCode", "is required")
	}
	scale, ok := contract.CurrencyMinorUnits(code)
	if !ok {
		return Money{}, errcode.Invalid(field+".currencyCode", "is not an active ISO 4217 currency code")
	}
	amount, err := canonicalAmount(field+".amount", m.Amount, scale, code)
	if err != nil {
		return Money{}, err
	}
	return Money{Amount: amount, CurrencyCode: code}, nil
}

// canonicalAmount parses a strictly positive decimal written as digits with
// an optional fraction ("1250", "1250.5", "+0012.50"); no exponent, no
// grouping, no float. Fraction digits beyond the currency's scale are
// refused unless they are zeros, so no amount is ever rounded.
func canonicalAmount(field, raw string, scale int, code string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errcode.Invalid(field, "is required")
	}
	negative := false
	if s[0] == '+' || s[0] == '-' {
		negative = s[0] == '-'
		s = s[1:]
	}
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || hasPoint && frac == "" || !digits(whole) || !digits(frac) {
		return "", errcode.Invalid(field, "must be a decimal number such as 1250.00")
	}
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	if negative || whole == "" && frac == "" {
		return "", errcode.Invalid(field, "must be greater than 0")
	}
	if len(whole) > contract.MaxAmountDigits {
		return "", errcode.Invalid(field, "has more than %d digits before the decimal point", contract.MaxAmountDigits)
	}
	if len(frac) > scale {
		return "", errcode.Invalid(field, "has more than %d decimal places, the most %s allows", scale, code)
	}
	if whole == "" {
		whole = "0"
	}
	if scale == 0 {
		return whole, nil
	}
	return whole + "." + frac + strings.Repeat("0", scale-len(frac)), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
