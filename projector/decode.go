package projector

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	cmp "crm/services/campaigns/contract"
)

// amountPattern is a money amount as the campaigns area records it: plain
// digits with an optional fraction. PostgreSQL's numeric would also take a
// sign, an exponent, NaN and Infinity, and sum them into won totals that
// are no Decimal.
var amountPattern = regexp.MustCompile(`^[0-9]{1,` + strconv.Itoa(cmp.MaxAmountDigits) + `}(\.[0-9]{1,4})?$`)

// wellFormed checks a decoded event struct: every id field (a string whose
// JSON name ends in "Id") without omitempty is set, and every Money has a
// decimal amount and a known currency. The areas' own events always are.
func wellFormed(v reflect.Value) error {
	if v.Kind() != reflect.Struct {
		return nil
	}
	if v.Type() == reflect.TypeFor[cmp.Money]() {
		m := cmp.Money{Amount: v.FieldByName("Amount").String(), CurrencyCode: v.FieldByName("CurrencyCode").String()}
		if _, known := cmp.CurrencyMinorUnits(m.CurrencyCode); !known || !amountPattern.MatchString(m.Amount) {
			return fmt.Errorf("malformed money %.40q %.10q", m.Amount, m.CurrencyCode)
		}
		return nil
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Type.Kind() == reflect.Struct:
			if err := wellFormed(v.Field(i)); err != nil {
				return err
			}
		case f.Type.Kind() == reflect.String && strings.HasSuffix(name, "Id") && !strings.Contains(opts, "omitempty"):
			if v.Field(i).String() == "" {
				return fmt.Errorf("%s is missing", name)
			}
		}
	}
	return nil
}
