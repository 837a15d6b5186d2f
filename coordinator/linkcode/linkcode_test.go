package linkcode

import (
	"bytes"
	"regexp"
	"testing"
)

func TestNewIsTypable(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)
	seen := map[string]bool{}
	for range 1000 {
		code, hash := New()
		if !shape.MatchString(code) {
			t.Fatalf("code %q is not XXXX-XXXX in Crockford base32", code)
		}
		if !bytes.Equal(hash, Hash(code)) {
			t.Fatalf("New's hash differs from Hash(%q)", code)
		}
		if seen[code] {
			t.Fatalf("code %q repeated in 1000 draws", code)
		}
		seen[code] = true
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ABCD-EFGH", "ABCDEFGH"},
		{"abcd efgh", "ABCDEFGH"},
		{"abcdefgh", "ABCDEFGH"},
		{"0OIL-1234", "00111234"},
		{"ABCD-EFG", ""},   // too short
		{"ABCD-EFGHJ", ""}, // too long
		{"ABCD-EFGU", ""},  // U is not in the alphabet
		{"ABCD_EFGH", ""},  // stray punctuation
		{"ÄBCD-EFGH", ""},  // not ASCII
		{"", ""},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if !bytes.Equal(Hash("abcd-efgh"), Hash("ABCDEFGH")) {
		t.Error("typed forms of one code hash differently")
	}
	if Hash("nope") != nil {
		t.Error("Hash of a non-code is not nil")
	}
}
