package paging

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// lookup finds the value at path in rec, descending through objects.
func lookup(rec map[string]any, path []string) (any, bool) {
	var v any = rec
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[name]; !ok {
			return nil, false
		}
	}
	return v, true
}

// toRat returns v as an exact decimal if it is a number or numeric string.
// A float64 is taken at its shortest decimal form, so 10.1 is exactly 10.1.
func toRat(v any) (*big.Rat, bool) {
	switch v := v.(type) {
	case string:
		return parseDecimal(v)
	case json.Number:
		return parseDecimal(string(v))
	case float64:
		return floatRat(v, 64)
	case float32:
		return floatRat(float64(v), 32)
	case int, int8, int16, int32, int64:
		return new(big.Rat).SetInt64(reflect.ValueOf(v).Int()), true
	case uint, uint8, uint16, uint32, uint64, uintptr:
		return new(big.Rat).SetUint64(reflect.ValueOf(v).Uint()), true
	}
	return nil, false
}

func floatRat(f float64, bits int) (*big.Rat, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return parseDecimal(strconv.FormatFloat(f, 'g', -1, bits))
}

// parseDecimal parses a decimal number such as -12, 10.10 or 1.5e3. It
// accepts no fractions, base prefixes or underscores (which big.Rat would),
// and at most three exponent digits, so the result stays small.
func parseDecimal(s string) (*big.Rat, bool) {
	if s == "" || len(s) > maxNumberLen || !isDecimal(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

func isDecimal(s string) bool {
	i, digits := 0, 0
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	i, digits = skipDigits(s, i)
	if i < len(s) && s[i] == '.' {
		var more int
		i, more = skipDigits(s, i+1)
		digits += more
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		var exp int
		if i, exp = skipDigits(s, i); exp == 0 || exp > 3 {
			return false
		}
	}
	return i == len(s)
}

// skipDigits returns the offset after the ASCII digits at s[i:] and their count.
func skipDigits(s string, i int) (int, int) {
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i, i - start
}

// timeLayouts are the accepted time forms; those without an offset are UTC.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"}

// parseTime parses an RFC 3339 time, one without offset, or a date.
func parseTime(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func toTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		return parseTime(v)
	case time.Time:
		return v, true
	}
	return time.Time{}, false
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// scalarString returns the text of a string, number or boolean value.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), true
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr:
		return fmt.Sprint(v), true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	}
	return "", false
}

// compareFold compares a and b as text, ignoring case: rune by rune in
// lower case, a prefix first.
func compareFold(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if la, lb := unicode.ToLower(ra), unicode.ToLower(rb); la != lb {
			return cmp.Compare(la, lb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}
