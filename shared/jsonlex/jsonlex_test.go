package jsonlex

import (
	"encoding/json"
	"testing"
)

// TestNumberAsJSON: Number reads a whole input exactly when encoding/json
// takes it for a number.
func TestNumberAsJSON(t *testing.T) {
	for _, in := range []string{"0", "-0", "7", "-12", "10", "01", "-", "", "1.", ".5", "1.5", "1e", "1e5",
		"1E+5", "1e-05", "-0.0e0", "+1", "1.5e", "00", "1x", "9223372036854775808", "1_000"} {
		l := Lexer{B: []byte(in)}
		got := l.Number() && l.I == len(in)
		var n json.Number
		want := json.Unmarshal([]byte(in), &n) == nil && in != "" && in[0] != ' '
		if got != want {
			t.Errorf("%q: Number read it whole %v, encoding/json takes it %v", in, got, want)
		}
	}
}

// TestLiteralAndSpace: Literal reads only its word, and Space stops at
// the first byte that is not JSON's white space.
func TestLiteralAndSpace(t *testing.T) {
	l := Lexer{B: []byte(" \t\r\n true nul")}
	l.Space()
	if l.Peek() != 't' || !l.Literal("true") {
		t.Fatalf("at %d: true not read", l.I)
	}
	l.Space()
	if at := l.I; l.Literal("null") || l.I != at {
		t.Errorf(`"nul" read as null, or I moved from %d to %d`, at, l.I)
	}
	l.I = len(l.B)
	if l.Peek() != 0 || l.Digits() {
		t.Error("at the end: Peek is not 0, or Digits read something")
	}
}

// TestNext: after a member or element, a comma says more (and its space
// is read), the closing byte says the end, anything else is refused
// where it stands.
func TestNext(t *testing.T) {
	for _, tc := range []struct {
		in       string
		close    byte
		more, ok bool
		at       int
	}{
		{" , \"b\"", '}', true, true, 3},
		{" }x", '}', false, true, 2},
		{"]", ']', false, true, 1},
		{" ]", '}', false, false, 1},
		{" :", ']', false, false, 1},
		{"", '}', false, false, 0},
	} {
		l := Lexer{B: []byte(tc.in)}
		more, ok := l.Next(tc.close)
		if more != tc.more || ok != tc.ok || l.I != tc.at {
			t.Errorf("Next(%q) on %q: more %v ok %v at %d, want %v %v at %d", tc.close, tc.in, more, ok, l.I, tc.more, tc.ok, tc.at)
		}
	}
}
