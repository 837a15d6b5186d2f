package rules

import "testing"

func TestBelowMinimum(t *testing.T) {
	for _, c := range []struct {
		version, minimum string
		want             bool
	}{
		{"1.0.0", "", false},
		{"dev", "", false},
		{"", "1.2.0", false},
		{"1.1.9", "1.2.0", true},
		{"1.2.0-rc.1", "1.2.0", true},
		{"1.2.0", "1.2.0", false},
		{"v1.3.0", "1.2.0", false},
		{"2.0.0", "1.2.0", false},
		{"dev", "1.2.0", true},
		{"test", "0.0.1", true},
	} {
		if got := BelowMinimum(c.version, c.minimum); got != c.want {
			t.Errorf("BelowMinimum(%q, %q) = %v, want %v", c.version, c.minimum, got, c.want)
		}
	}
}

func TestMinimumTarget(t *testing.T) {
	for _, c := range []struct {
		verified []string
		minimum  string
		want     string
	}{
		{nil, "1.2.0", ""},
		{[]string{"1.1.0"}, "1.2.0", ""},
		{[]string{"1.1.0", "1.2.0"}, "1.2.0", "1.2.0"},
		{[]string{"1.3.0", "1.1.0", "1.10.0", "1.2.0"}, "1.2.0", "1.10.0"},
		{[]string{"not-a-version", "1.2.1"}, "1.2.0", "1.2.1"},
	} {
		got, ok := MinimumTarget(c.verified, c.minimum)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("MinimumTarget(%v, %q) = %q %v, want %q", c.verified, c.minimum, got, ok, c.want)
		}
	}
}
