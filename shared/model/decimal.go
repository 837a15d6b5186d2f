package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Decimal is an exact decimal number: an arbitrary-precision integer
// coefficient and a scale, the number of digits after the point, so its
// value is coef × 10^-scale. The zero value is 0.
//
// The scale is part of the value as written: 1234.50 is read as 123450 with
// scale 2 and written back as 1234.50, not 1234.5. Arithmetic and
// comparisons are exact and ignore the scale (10.10 equals 10.1). A
// big.Rat alone would drop the scale and could hold values no decimal
// writes (1/3); an int64 coefficient would overflow on amounts a book can
// legitimately hold in the smallest unit of a high-denomination currency,
// and on the sums of many. A Decimal is immutable: every operation returns
// a new one.
type Decimal struct {
	coef  *big.Int // nil is 0; never modified once set
	scale int32    // digits after the point, 0 to maxScale (products: twice that)
}

// Bounds on the decimals read from text, so that no input makes the
// arithmetic on it expensive.
const (
	maxScale  = 64  // digits after the point
	maxDigits = 128 // digits in all, once the exponent is applied
	maxExpLen = 6   // digits of an exponent
)

// ErrNotDecimal is wrapped by the refusal of a value that is not a decimal
// number: not a JSON number or a string holding one, or out of bounds.
var ErrNotDecimal = errors.New("not a decimal number")

// ParseDecimal reads a decimal written as JSON writes numbers:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. An exponent is applied:
// 1.5E+3 is 1500, 1E-3 is 0.001.
func ParseDecimal(s string) (Decimal, error) {
	digits, frac, exp, ok := splitNumber(s)
	if !ok {
		return Decimal{}, fmt.Errorf("%w: %q", ErrNotDecimal, clip(s))
	}
	scale := len(frac) - exp
	sig := len(strings.TrimLeft(digits, "0"))
	if scale > maxScale || sig+max(0, -scale) > maxDigits {
		return Decimal{}, fmt.Errorf("%w: %q is out of range", ErrNotDecimal, clip(s))
	}
	coef := parseCoef(digits)
	if s[0] == '-' {
		coef.Neg(coef)
	}
	if scale < 0 {
		coef.Mul(coef, pow10(-scale))
		scale = 0
	}
	return Decimal{coef: coef, scale: int32(scale)}, nil
}

// parseCoef reads digits, only decimal digits, as an integer: through a
// uint64 when they are few enough, the amounts of nearly every record,
// since big.Int's SetString is most of the cost of reading a decimal.
func parseCoef(digits string) *big.Int {
	if len(digits) > 19 {
		coef, _ := new(big.Int).SetString(digits, 10)
		return coef
	}
	var n uint64 // 19 digits fit: under 10^19 < 2^64
	for i := range len(digits) {
		n = n*10 + uint64(digits[i]-'0')
	}
	return new(big.Int).SetUint64(n)
}

// splitNumber checks s against JSON's number grammar and returns its
// digits (integer part then fraction, no point), the fraction's digits and
// the exponent.
func splitNumber(s string) (digits, frac string, exp int, ok bool) {
	rest := strings.TrimPrefix(s, "-")
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	intPart := rest[:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return "", "", 0, false
	}
	rest = rest[i:]
	if strings.HasPrefix(rest, ".") {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		if frac = rest[1:j]; frac == "" {
			return "", "", 0, false
		}
		rest = rest[j:]
	}
	if rest != "" {
		if rest[0] != 'e' && rest[0] != 'E' {
			return "", "", 0, false
		}
		e, ok := parseExp(rest[1:])
		if !ok {
			return "", "", 0, false
		}
		exp = e
	}
	return intPart + frac, frac, exp, true
}

// parseExp reads an exponent's optional sign and 1 to maxExpLen digits.
func parseExp(s string) (int, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" || len(s) > maxExpLen {
		return 0, false
	}
	n := 0
	for i := range len(s) {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// clip shortens text quoted in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// MustDecimal is ParseDecimal for constants known to be good; it panics on
// a bad one.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String writes the decimal with its scale: 1234.50, -0.05, 7.
func (d Decimal) String() string {
	s := d.int().String()
	if d.scale == 0 {
		return s
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	if n := int(d.scale) + 1 - len(s); n > 0 {
		s = strings.Repeat("0", n) + s
	}
	p := len(s) - int(d.scale)
	return sign + s[:p] + "." + s[p:]
}

// MarshalJSON writes the decimal as a JSON number with its scale.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON reads a JSON number, or a string holding one, from its
// text: never through a float64. A JSON null leaves d as it is.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	switch {
	case s == "null":
		return nil
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.ContainsRune(s, '\\'):
		s = s[1 : len(s)-1] // the common case: no escapes to read
	case strings.HasPrefix(s, `"`):
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: %v", ErrNotDecimal, err)
		}
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Scale is the number of digits after the point.
func (d Decimal) Scale() int { return int(d.scale) }

// Sign is -1, 0 or +1 as d is negative, zero or positive.
func (d Decimal) Sign() int { return d.int().Sign() }

// Cmp compares d and e exactly: -1 if d < e, 0 if equal, +1 if d > e.
func (d Decimal) Cmp(e Decimal) int {
	a, b, _ := align(d, e)
	return a.Cmp(b)
}

// Equal reports whether d and e are the same number, whatever their scales.
func (d Decimal) Equal(e Decimal) bool { return d.Cmp(e) == 0 }

// Add returns d + e, exactly, with the larger of their scales.
func (d Decimal) Add(e Decimal) Decimal {
	a, b, s := align(d, e)
	return Decimal{coef: new(big.Int).Add(a, b), scale: s}
}

// Sub returns d - e, exactly, with the larger of their scales.
func (d Decimal) Sub(e Decimal) Decimal {
	a, b, s := align(d, e)
	return Decimal{coef: new(big.Int).Sub(a, b), scale: s}
}

// Mul returns d × e, exactly, with the sum of their scales.
func (d Decimal) Mul(e Decimal) Decimal {
	return Decimal{coef: new(big.Int).Mul(d.int(), e.int()), scale: d.scale + e.scale}
}

// Abs returns |d|.
func (d Decimal) Abs() Decimal {
	if d.Sign() >= 0 {
		return d
	}
	return Decimal{coef: new(big.Int).Neg(d.coef), scale: d.scale}
}

var zero = new(big.Int)

func (d Decimal) int() *big.Int {
	if d.coef == nil {
		return zero
	}
	return d.coef
}

// align returns the coefficients of d and e at the larger of their scales,
// and that scale. The results may be d's or e's own: not to be modified.
func align(d, e Decimal) (*big.Int, *big.Int, int32) {
	a, b := d.int(), e.int()
	switch {
	case d.scale < e.scale:
		return new(big.Int).Mul(a, pow10(int(e.scale-d.scale))), b, e.scale
	case d.scale > e.scale:
		return a, new(big.Int).Mul(b, pow10(int(d.scale-e.scale))), d.scale
	}
	return a, b, d.scale
}

// powers holds 10^0 to 10^(len-1); larger powers are computed.
var powers = func() []*big.Int {
	p := make([]*big.Int, 2*maxScale+1)
	p[0] = big.NewInt(1)
	ten := big.NewInt(10)
	for i := 1; i < len(p); i++ {
		p[i] = new(big.Int).Mul(p[i-1], ten)
	}
	return p
}()

// pow10 returns 10^n; the result must not be modified.
func pow10(n int) *big.Int {
	if n < len(powers) {
		return powers[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}
