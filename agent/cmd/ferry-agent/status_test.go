package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/worker"
)

func TestStatusDoubtsAnOldConnectedState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.json")
	cfg := config.Default()
	cfg.Coordinator, cfg.Credential, cfg.AgentID = "https://ferry.example", "fra_x", "agent-1"
	cfg.Bindings = []config.Binding{{ConnectionID: "conn-1", CompanyID: "co-1", PlatformKey: "gnucash", Path: "/books/a.gnucash"}}
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		updated time.Duration
		want    string
	}{
		{"fresh", -5 * time.Second, "connected since"},
		{"stale", -10 * time.Minute, "may not be running"},
	}
	for _, tt := range tests {
		st := worker.Status{Connected: true, ConnectedSince: time.Now().Add(-time.Hour), Updated: time.Now().Add(tt.updated), HeartbeatMillis: 15000}
		raw, _ := json.Marshal(st)
		if err := os.WriteFile(statusPath(path), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errw bytes.Buffer
		if err := run([]string{"status", "--config", path}, &out, &errw); err != nil {
			t.Fatalf("%s: %v %s", tt.name, err, errw.String())
		}
		if !strings.Contains(out.String(), tt.want) || !strings.Contains(out.String(), "conn-1") {
			t.Errorf("%s: status printed %q, want %q and the binding", tt.name, out.String(), tt.want)
		}
	}
}
