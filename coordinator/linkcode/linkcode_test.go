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

// TestLinks checks that a link URL's token opens its own page only, and
// that another secret makes other tokens.
func TestLinks(t *testing.T) {
	l := NewLinks("https://ferry.example/", bytes.Repeat([]byte{1}, 32))
	other := NewLinks("https://ferry.example", bytes.Repeat([]byte{2}, 32))
	conn := l.ConnectionToken("co", "cn")
	if got, want := l.ConnectionURL("co", "cn"), "https://ferry.example/link/co/cn?token="+conn; got != want {
		t.Errorf("ConnectionURL = %q, want %q", got, want)
	}
	if len(conn) < 22 { // 128 bits in base64
		t.Errorf("token %q is shorter than 128 bits", conn)
	}
	tests := []struct {
		name string
		ok   bool
		want bool
	}{
		{"own token", l.CheckConnection("co", "cn", conn), true},
		{"no token", l.CheckConnection("co", "cn", ""), false},
		{"another connection's", l.CheckConnection("co", "cn2", conn), false},
		{"another company's", l.CheckConnection("co2", "cn", conn), false},
		{"the company's token on a connection", l.CheckConnection("co", "cn", l.CompanyToken("co")), false},
		{"a connection's token on its company", l.CheckCompany("co", conn), false},
		{"company's own", l.CheckCompany("co", l.CompanyToken("co")), true},
		{"another secret's", l.CheckConnection("co", "cn", other.ConnectionToken("co", "cn")), false},
		{"ids run together", l.CheckConnection("c", "ocn", l.ConnectionToken("co", "cn")), false},
	}
	for _, tt := range tests {
		if tt.ok != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.ok, tt.want)
		}
	}
}
