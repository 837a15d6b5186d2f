package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

// TestAdminKeyLength: FERRY_ADMIN_KEY shorter than 32 characters stops
// the start with a message naming it, before anything is opened or bound;
// main then exits 1.
func TestAdminKeyLength(t *testing.T) {
	tests := []struct {
		key  string
		want string // in the error; "" for none
	}{
		{"a", "FERRY_ADMIN_KEY: 1 characters, at least 32"},
		{"demo-admin-key", "FERRY_ADMIN_KEY: 14 characters, at least 32"},
		{strings.Repeat("ü", 31), "FERRY_ADMIN_KEY: 31 characters"},
	}
	// A data directory that cannot be made: were the key accepted, the
	// start would fail there instead (and not serve for ever).
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Setenv("FERRY_ADMIN_KEY", tt.key)
		err := run([]string{"--listen", "127.0.0.1:0", "--data", filepath.Join(file, "data")})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FERRY_ADMIN_KEY of %d characters: %v, want an error with %q", len([]rune(tt.key)), err, tt.want)
		}
	}
}

// TestMinAgentVersionFlag: a --min-agent-version that is not a release
// version stops the start with a message naming the flag, before anything
// is opened or bound; main then exits 1.
func TestMinAgentVersionFlag(t *testing.T) {
	t.Setenv("FERRY_ADMIN_KEY", strings.Repeat("k", 32))
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.2", "dev", "1.2.3.4", "01.2.3", "1.2.3-", "latest"} {
		err := run([]string{"--listen", "127.0.0.1:0", "--data", filepath.Join(file, "data"), "--min-agent-version", v})
		if err == nil || !strings.HasPrefix(err.Error(), "min-agent-version: ") {
			t.Errorf("--min-agent-version %q: %v, want an error naming the flag", v, err)
		}
	}
	// A good one passes the check: the start fails later, at the data
	// directory that cannot be made.
	err := run([]string{"--listen", "127.0.0.1:0", "--data", filepath.Join(file, "data"), "--min-agent-version", "1.2.3"})
	if err == nil || strings.Contains(err.Error(), "min-agent-version") {
		t.Errorf("--min-agent-version 1.2.3: %v, want a later error", err)
	}
}
