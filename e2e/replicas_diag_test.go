package e2e

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
)

// TestReplicasDiagnostics runs two coordinator replicas on one PostgreSQL
// database and a real agent connected to the first: diagnostics asked
// through the second answer with the agent's own checks, as through the
// first.
func TestReplicasDiagnostics(t *testing.T) {
	if testing.Short() {
		t.Skip("replicas: not with -short")
	}
	parallel(t)
	pg, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	url, err := pg.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	holder := startCoordinator(t, t.TempDir(), freeAddr(t), "--store", url, "--replica-id", "r0")
	other := startCoordinator(t, t.TempDir(), freeAddr(t), "--store", url, "--replica-id", "r1")
	_, conn, code := setupConnection(t, holder, "csv")
	runAgent(t, linkAgent(t, holder, code, "csv", sampleCSV))
	var id string
	for a, r := range agentsByReplica(t, other, 1) {
		if r != "r0" {
			t.Fatalf("agent %s on %s, want r0, where it linked", a, r)
		}
		id = a
	}

	for name, c := range map[string]*coordinator{"r0, holding the channel": holder, "r1": other} {
		var diag struct {
			Healthy  bool
			Hostname string
			Checks   []struct{ Name, Status, ConnectionID string }
		}
		if s := c.do("POST", "/agents/"+id+"/diagnostics", nil, &diag); s != 200 {
			t.Fatalf("diagnostics through %s: %d", name, s)
		}
		var seen []string
		for _, ch := range diag.Checks {
			seen = append(seen, ch.Name+"/"+ch.Status+"/"+ch.ConnectionID)
		}
		if !diag.Healthy || diag.Hostname == "" || !strings.Contains(strings.Join(seen, " "), "source/Pass/"+conn) ||
			!strings.Contains(strings.Join(seen, " "), "clock/Pass") {
			t.Errorf("diagnostics through %s: %+v %v, want healthy with the source and the clock passing", name, diag, seen)
		}
	}
}
