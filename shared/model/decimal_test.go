package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestDecimalRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"10.10", "10.10"},
		{"1234.50", "1234.50"},
		{"-0.05", "-0.05"},
		{"-5000.00", "-5000.00"},
		{"0.000", "0.000"},
		{"-0.00", "0.00"}, // no negative zero
		{"123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"},
		{"-98765432109876543210987654321", "-98765432109876543210987654321"},
		{"1.5E+3", "1500"},
		{"1e-3", "0.001"},
		{"12.50e1", "125.0"},
		{"0E+5", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDecimal(tt.in)
			if err != nil {
				t.Fatalf("ParseDecimal(%q): %v", tt.in, err)
			}
			if got := d.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
			out, _ := json.Marshal(d)
			if string(out) != tt.want {
				t.Errorf("MarshalJSON = %s, want %s", out, tt.want)
			}
		})
	}
}

func TestDecimalRefuses(t *testing.T) {
	for _, in := range []string{"", "-", "abc", "1,50", "12,50", "01", "+1", ".5", "1.", "1e", "1e+", "1.2.3",
		" 1", "1 ", "NaN", "Infinity", "0x10", "1e1234567", "1e-65", "1e200",
		"0." + strings.Repeat("0", 64) + "1", strings.Repeat("9", 129)} {
		if d, err := ParseDecimal(in); !errors.Is(err, ErrNotDecimal) {
			t.Errorf("ParseDecimal(%q) = %s, %v; want ErrNotDecimal", in, d, err)
		}
	}
}

func TestDecimalArithmetic(t *testing.T) {
	d := MustDecimal
	tests := []struct {
		name string
		got  Decimal
		want string
	}{
		{"0.1+0.2", d("0.1").Add(d("0.2")), "0.3"},
		{"scale kept", d("10.10").Add(d("0")), "10.10"},
		{"larger scale wins", d("1.5").Add(d("0.25")), "1.75"},
		{"negative", d("-5000.00").Add(d("5000.00")), "0.00"},
		{"sub", d("45.20").Sub(d("25.20")).Sub(d("20.00")), "0.00"},
		{"mul", d("10").Mul(d("45.75")), "457.50"},
		{"mul scales add", d("1.5").Mul(d("1.5")), "2.25"},
		{"abs", d("-3.10").Abs(), "3.10"},
		{"big", d("99999999999999999999.99").Add(d("0.01")), "100000000000000000000.00"},
		{"beyond int64", d("9223372036854775807").Add(d("1")), "9223372036854775808"},
		{"zero value", Decimal{}.Add(d("2.50")), "2.50"},
	}
	for _, tt := range tests {
		if tt.got.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	cmp := []struct {
		a, b string
		want int
	}{
		{"0.3", "0.30", 0}, {"10.1", "10.10", 0}, {"-1", "0", -1}, {"1234.5", "1234.49", 1},
		{"0.1", "0.10000000000000000001", -1}, {"100000000000000000000", "99999999999999999999.999", 1},
	}
	for _, c := range cmp {
		if got := d(c.a).Cmp(d(c.b)); got != c.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if !d("0.1").Add(d("0.2")).Equal(d("0.3")) {
		t.Error("0.1 + 0.2 != 0.3")
	}
	if (Decimal{}).Sign() != 0 || d("-0.01").Sign() != -1 || d("0.01").Sign() != 1 {
		t.Error("Sign")
	}
	// Operations do not change their operands.
	a, b := d("1.10"), d("2.2")
	_, _, _ = a.Add(b), a.Mul(b), b.Sub(a)
	if a.String() != "1.10" || b.String() != "2.2" {
		t.Errorf("operands changed: %s %s", a, b)
	}
}

func TestDecimalJSON(t *testing.T) {
	type doc struct {
		A  Decimal  `json:"a"`
		P  *Decimal `json:"p,omitempty"`
		Xs []Decimal
	}
	tests := []struct {
		in, want string
	}{
		{`{"a":1234.50,"p":"10.10","Xs":[0.1,"0.20",-3]}`, `{"a":1234.50,"p":10.10,"Xs":[0.1,0.20,-3]}`},
		{`{"a":"-0.05"}`, `{"a":-0.05,"Xs":null}`},
		{`{"a":null,"p":null}`, `{"a":0,"Xs":null}`},
		{`{"a":12345678901234567890123.45}`, `{"a":12345678901234567890123.45,"Xs":null}`},
		{`{"a":"1\u0030.5"}`, `{"a":10.5,"Xs":null}`}, // escapes in a string are read
	}
	for _, tt := range tests {
		var v doc
		if err := json.Unmarshal([]byte(tt.in), &v); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		out, _ := json.Marshal(v)
		if string(out) != tt.want {
			t.Errorf("%s: marshalled %s, want %s", tt.in, out, tt.want)
		}
	}
	for _, in := range []string{`{"a":true}`, `{"a":{}}`, `{"a":[1]}`, `{"a":"12,50"}`, `{"a":""}`, `{"a":" 1"}`} {
		var v doc
		if err := json.Unmarshal([]byte(in), &v); !errors.Is(err, ErrNotDecimal) {
			t.Errorf("%s: %v, want ErrNotDecimal", in, err)
		}
	}
}

// TestParseCoef checks the uint64 path of parseCoef against big.Int's
// SetString on both sides of its 19 digits, leading zeros included.
func TestParseCoef(t *testing.T) {
	digits := []string{"0", "00", "7", "0007", "10", "1234567890", "999999999999999999", "1000000000000000000",
		"9999999999999999999", "18446744073709551615", "18446744073709551616", "00000000000000000000000001",
		"99999999999999999999999999999999999999"}
	for n := 1; n <= 40; n++ {
		digits = append(digits, strings.Repeat("9", n), "1"+strings.Repeat("0", n-1), strings.Repeat("0", n-1)+"5")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		b := make([]byte, 1+r.IntN(25))
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		digits = append(digits, string(b))
	}
	for _, d := range digits {
		want, _ := new(big.Int).SetString(d, 10)
		if got := parseCoef(d); got.Cmp(want) != 0 {
			t.Errorf("parseCoef(%q) = %v, want %v", d, got, want)
		}
	}
}

// BenchmarkParseDecimal reads amounts as the records carry them and
// reports ns per amount beside big.Int's SetString of the same digits,
// measured in the same run (parse/setstring): SetString alone was most of
// ParseDecimal before it read short amounts through a uint64.
func BenchmarkParseDecimal(b *testing.B) {
	var amounts, digits []string
	for i := range 1000 {
		cents := 1000 + (i*7919)%900000
		amounts = append(amounts, fmt.Sprintf("%d.%02d", cents/100, cents%100))
		digits = append(digits, fmt.Sprintf("%d%02d", cents/100, cents%100))
	}
	per := func(f func(i int)) float64 {
		start, n := time.Now(), 0
		for ; time.Since(start) < 50*time.Millisecond; n++ {
			for i := range amounts {
				f(i)
			}
		}
		return float64(time.Since(start).Nanoseconds()) / float64(n*len(amounts))
	}
	for b.Loop() {
		for _, a := range amounts {
			if _, err := ParseDecimal(a); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	parse, setString := math.Inf(1), math.Inf(1)
	for range 5 {
		parse = min(parse, per(func(i int) { _, _ = ParseDecimal(amounts[i]) }))
		setString = min(setString, per(func(i int) { _, _ = new(big.Int).SetString(digits[i], 10) }))
	}
	b.ReportMetric(parse, "parse-ns/amount")
	b.ReportMetric(setString, "setstring-ns/amount")
	b.ReportMetric(parse/setString, "parse/setstring")
}
