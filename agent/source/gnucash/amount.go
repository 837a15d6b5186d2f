package gnucash

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// GnuCash stores every amount as a rational number num/denom of two 64-bit
// integers ("225300/100" in XML, value_num and value_denom columns in
// SQLite). The connector keeps them as big.Rat, sums them exactly and
// writes them as decimals only at the end.

var errRational = errors.New("not a GnuCash number num/denom")

// parseRat reads GnuCash's "num/denom" text. A bare integer is accepted;
// a zero denominator is accepted only for a zero numerator (some writers
// put "0/0" for an empty amount).
func parseRat(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	num, den, found := strings.Cut(s, "/")
	if !found {
		den = "1"
	}
	n, err1 := strconv.ParseInt(num, 10, 64)
	d, err2 := strconv.ParseInt(den, 10, 64)
	switch {
	case err1 != nil || err2 != nil || d < 0:
		return nil, fmt.Errorf("%q is %w", truncate(s, 40), errRational)
	case d == 0 && n != 0:
		return nil, fmt.Errorf("%q has a zero denominator", truncate(s, 40))
	case d == 0:
		return new(big.Rat), nil
	}
	return ratOf(n, d)
}

// ratOf makes num/denom from two integers read from SQLite.
func ratOf(num, denom int64) (*big.Rat, error) {
	switch {
	case denom == 0 && num == 0:
		return new(big.Rat), nil
	case denom <= 0:
		return nil, fmt.Errorf("%d/%d is %w", num, denom, errRational)
	}
	return new(big.Rat).SetFrac(big.NewInt(num), big.NewInt(denom)), nil
}

// placesOf is how many decimal places a fraction (a commodity's smallest
// unit, 100 for cents) shows: 2 for 100, 0 for 1. A fraction that is not a
// power of ten shows as many places as its exact decimals need.
func placesOf(fraction int64) int {
	p := 0
	for f := fraction; f > 1; f /= 10 {
		if f%10 != 0 {
			return 0
		}
		p++
	}
	return p
}

// maxPlaces bounds the decimal places written for one amount.
const maxPlaces = 18

// decimal writes r as an exact decimal with at least places decimal places
// (the commodity's), more when r needs them to be exact. A value no decimal
// can hold exactly (a third) is rounded half away from zero at
// max(places, 9) places; stored amounts never are: GnuCash keeps them in
// the commodity's smallest unit, and computed ones are rounded first.
func decimal(r *big.Rat, places int) json.Number {
	if need, ok := exactPlaces(r); ok && need > places {
		places = min(need, maxPlaces)
	} else if !ok {
		places = max(places, 9)
	}
	return json.Number(r.FloatString(places))
}

// exactPlaces is how many decimal places r needs, if a finite number does:
// its reduced denominator must be 2^a·5^b, and then it needs max(a, b).
func exactPlaces(r *big.Rat) (int, bool) {
	d := new(big.Int).Set(r.Denom())
	count := func(p int64) int {
		n, q, m, bp := 0, new(big.Int), new(big.Int), big.NewInt(p)
		for {
			q.QuoRem(d, bp, m)
			if m.Sign() != 0 {
				return n
			}
			d.Set(q)
			n++
		}
	}
	two, five := count(2), count(5)
	if !d.IsInt64() || d.Int64() != 1 {
		return 0, false
	}
	return max(two, five), true
}

// roundTo rounds r to a multiple of 1/fraction, halves away from zero, as
// GnuCash's GNC_HOW_RND_ROUND_HALF_UP does.
func roundTo(r *big.Rat, fraction int64) *big.Rat {
	if fraction <= 0 {
		return new(big.Rat).Set(r)
	}
	f := big.NewInt(fraction)
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(f))
	num, den := scaled.Num(), scaled.Denom()
	q, m := new(big.Int).QuoRem(new(big.Int).Abs(num), den, new(big.Int))
	if m.Lsh(m, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if num.Sign() < 0 {
		q.Neg(q)
	}
	return new(big.Rat).SetFrac(q, f)
}

// currencyFractions are the ISO 4217 currencies whose smallest unit is not
// a hundredth. An XML book does not write a currency's fraction; GnuCash
// takes it from this same table.
var currencyFractions = map[string]int64{
	"BIF": 1, "CLP": 1, "DJF": 1, "GNF": 1, "ISK": 1, "JPY": 1, "KMF": 1, "KRW": 1,
	"PYG": 1, "RWF": 1, "UGX": 1, "UYI": 1, "VND": 1, "VUV": 1, "XAF": 1, "XOF": 1,
	"XPF": 1, "BHD": 1000, "IQD": 1000, "JOD": 1000, "KWD": 1000, "LYD": 1000,
	"OMR": 1000, "TND": 1000, "CLF": 10000, "UYW": 10000,
}

// isoFraction is a currency's smallest unit as ISO 4217 has it.
func isoFraction(code string) int64 {
	if f, ok := currencyFractions[code]; ok {
		return f
	}
	return 100
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
