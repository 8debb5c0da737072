package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"crm/eventlog/errcode"
)

// decimalRE is an exact decimal: optional minus, digits, optional fraction.
// No exponent, no leading plus, no NaN/Infinity: amounts must round-trip.
var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// Decimal is an exact decimal number carried as a string ("1250.00"), so
// that no amount ever passes through a float.
type Decimal string

// ParseDecimal checks s is an exact decimal; the error is BAD_USER_INPUT.
func ParseDecimal(s string) (Decimal, error) {
	if len(s) > 64 || !decimalRE.MatchString(s) {
		return "", errcode.New(errcode.BadUserInput, "not an exact decimal number: %q", truncate(s, 40))
	}
	return Decimal(s), nil
}

// UnmarshalGQL accepts a string holding an exact decimal (and, for
// convenience, a JSON integer); anything else is BAD_USER_INPUT.
func (d *Decimal) UnmarshalGQL(v any) error {
	switch x := v.(type) {
	case string:
		p, err := ParseDecimal(x)
		if err != nil {
			return err
		}
		*d = p
		return nil
	case json.Number:
		p, err := ParseDecimal(x.String())
		if err != nil {
			return err
		}
		*d = p
		return nil
	case int:
		*d = Decimal(strconv.Itoa(x))
		return nil
	case int64:
		*d = Decimal(strconv.FormatInt(x, 10))
		return nil
	default:
		return errcode.New(errcode.BadUserInput, "Decimal must be a string such as \"1250.00\"")
	}
}

// MarshalGQL writes the decimal as a JSON string.
func (d Decimal) MarshalGQL(w io.Writer) {
	io.WriteString(w, strconv.Quote(string(d)))
}

// JSON is any JSON value, passed through as raw bytes.
type JSON json.RawMessage

// UnmarshalGQL accepts any value.
func (j *JSON) UnmarshalGQL(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errcode.New(errcode.BadUserInput, "not a JSON value")
	}
	*j = b
	return nil
}

// MarshalGQL writes the raw JSON (null when empty).
func (j JSON) MarshalGQL(w io.Writer) {
	b := bytes.TrimSpace(j)
	if len(b) == 0 {
		io.WriteString(w, "null")
		return
	}
	w.Write(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s...", s[:n])
}
