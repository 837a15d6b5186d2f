package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveIsOwnerOnlyAndLoadRefusesOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "agent.json")
	cfg := Default()
	cfg.Coordinator, cfg.Credential = "https://ferry.example", "fra_secret"
	cfg.Bindings = []Binding{{ConnectionID: "c", CompanyID: "co", PlatformKey: "csv", Path: "/data"}}
	if err := Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	got, err := Load(path)
	if err != nil || got.Credential != "fra_secret" || len(got.Bindings) != 1 || got.Concurrency != 2 {
		t.Fatalf("Load: %+v, %v", got, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Load of a world-readable config: %v, want a refusal naming chmod 600", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); !IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://ferry.example", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://localhost:8080", false, true},
		{"http://[::1]:8080", false, true},
		{"http://ferry.example", false, false},
		{"http://192.0.2.10:8080", false, false},
		{"http://192.0.2.10:8080", true, true},
		{"ftp://ferry.example", true, false},
		{"ferry.example", false, false},
	}
	for _, tt := range tests {
		err := CheckURL(tt.url, tt.insecure)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok=%v", tt.url, tt.insecure, err, tt.ok)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	good := Config{Coordinator: "https://x", Credential: "c", Concurrency: 2}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no coordinator", func(c *Config) { c.Coordinator = "" }, "coordinator"},
		{"plain http", func(c *Config) { c.Coordinator = "http://ferry.example" }, "coordinator"},
		{"no credential", func(c *Config) { c.Credential = "" }, "credential"},
		{"concurrency", func(c *Config) { c.Concurrency = 0 }, "concurrency"},
		{"binding", func(c *Config) { c.Bindings = []Binding{{ConnectionID: "x"}} }, "bindings[0]"},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	for _, tt := range tests {
		c := good
		tt.edit(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tt.field) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.field)
		}
	}
}

func TestSameCoordinator(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://ferry.example.com", "https://ferry.example.com/", true},
		{"https://Ferry.Example.COM", "https://ferry.example.com", true},
		{"HTTPS://ferry.example.com:443", "https://ferry.example.com", true},
		{"http://127.0.0.1:80/", "http://127.0.0.1", true},
		{"https://ferry.example.com./ferry/", "https://ferry.example.com/ferry", true},
		{"http://[::1]:8080", "http://[::1]:8080/", true},
		{"https://ferry.example.com", "http://ferry.example.com", false},
		{"https://ferry.example.com", "https://ferry.example.com:8443", false},
		{"https://ferry.example.com", "https://other.example.com", false},
		{"https://ferry.example.com/a", "https://ferry.example.com/b", false},
		{"http://127.0.0.1:8080", "http://localhost:8080", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081", false},
		{"", "", false},
		{"not a url", "not a url", false},
	}
	for _, tt := range tests {
		if got := SameCoordinator(tt.a, tt.b); got != tt.want {
			t.Errorf("SameCoordinator(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
