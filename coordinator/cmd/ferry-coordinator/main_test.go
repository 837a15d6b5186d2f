package main

import "testing"

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512MiB", 512 << 20, true},
		{"2GiB", 2 << 30, true},
		{"64KiB", 64 << 10, true},
		{"1TiB", 1 << 40, true},
		{"1000B", 1000, true},
		{"1000", 1000, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"0MiB", 0, false},
		{"-1GiB", 0, false},
		{"1.5GiB", 0, false},
		{"512MB", 0, false},
		{"9000000TiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
