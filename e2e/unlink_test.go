package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// logHas reports whether one line of a log holds every one of parts.
func logHas(log string, parts ...string) bool {
	for line := range strings.Lines(log) {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return true
		}
	}
	return false
}

// TestUnlinkFromBothSides runs one agent bound to two connections: the
// client unlinks the first through the API, the end user the second with
// `ferry-agent unlink`. The agent loses each binding at once, the statuses
// say who withdrew, and the data already synced stays readable.
func TestUnlinkFromBothSides(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	coA, connA, codeA := setupConnection(t, c, "csv")
	coB, connB, codeB := setupConnection(t, c, "csv")
	config := filepath.Join(t.TempDir(), "agent.json")
	linkInto(t, c.url(), config, codeA, "csv", sampleCSV)
	linkInto(t, c.url(), config, codeB, "csv", sampleCSV)
	if cfg := readAgentConfig(t, config); len(cfg.Bindings) != 2 {
		t.Fatalf("one agent linked twice has bindings %+v, want 2", cfg.Bindings)
	}
	agent := runAgent(t, config)
	waitAllComplete(t, c, coA, 90*time.Second)
	waitAllComplete(t, c, coB, 90*time.Second)

	t.Run("client unlinks through the API", func(t *testing.T) {
		var cn struct{ Status string }
		if s := c.do("PATCH", "/companies/"+coA+"/connections/"+connA, map[string]any{"status": "Unlinked"}, &cn); s != 200 || cn.Status != "Unlinked" {
			t.Fatalf("PATCH status Unlinked: %d %+v", s, cn)
		}
		waitFor(t, 10*time.Second, "the agent to log the revocation of "+connA, func() bool {
			return logHas(agent.out.String(), "revoked", connA)
		})
		for _, q := range []string{"", "?connectionId=" + connA} {
			if s := c.do("POST", "/companies/"+coA+"/data/queue/invoices"+q, nil, nil); s != 409 {
				t.Errorf("queue on the unlinked connection%s: %d, want 409", q, s)
			}
		}
		compareWithSource(t, c, coA, "customers")
		compareWithSource(t, c, coA, "invoices")
	})

	t.Run("end user unlinks with ferry-agent unlink", func(t *testing.T) {
		out, err := ferryAgent(t, nil, "unlink", "--config", config, "--connection", connB)
		if err != nil {
			t.Fatalf("ferry-agent unlink: %v\n%s", err, out)
		}
		var cn struct{ Status string }
		if s := c.do("GET", "/companies/"+coB+"/connections/"+connB, nil, &cn); s != 200 || cn.Status != "Deauthorized" {
			t.Errorf("connection after ferry-agent unlink: %d %+v, want Deauthorized", s, cn)
		}
		for _, b := range readAgentConfig(t, config).Bindings {
			if b.ConnectionID == connB {
				t.Errorf("the config still lists the unlinked binding: %+v", b)
			}
		}
		waitFor(t, 10*time.Second, "the running agent to log the revocation of "+connB, func() bool {
			return logHas(agent.out.String(), "revoked", connB)
		})
		// A dataset queued on a Deauthorized connection ends AuthError.
		var op struct{ ID, Status string }
		if s := c.do("POST", "/companies/"+coB+"/data/queue/invoices", nil, &op); s != 200 || op.Status != "AuthError" {
			t.Errorf("queue on the deauthorized connection: %d %+v, want 200 AuthError", s, op)
		}
		compareWithSource(t, c, coB, "customers")
		compareWithSource(t, c, coB, "invoices")
	})
}
