package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMinAgentVersionBinaries runs the real coordinator: a
// --min-agent-version that is not X.Y.Z stops it with a message naming the
// flag and a non-zero exit; started with 1.0.0, it welcomes a real agent
// built as "dev" (below any minimum), which stays online and gets no work
// (its first link's datasets stay Queued), shows belowMinimumVersion and
// minimumVersion on the agent, and records one BelowMinimumVersion event.
func TestMinAgentVersionBinaries(t *testing.T) {
	parallel(t)
	cmd := exec.Command(filepath.Join(binDir, "ferry-coordinator"), "--listen", freeAddr(t), "--data", t.TempDir(),
		"--min-agent-version", "1.2")
	cmd.Env = append(os.Environ(), "FERRY_ADMIN_KEY="+e2eKey)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || !strings.Contains(string(out), "min-agent-version") {
		t.Errorf("--min-agent-version 1.2: %v\n%s\nwant a non-zero exit naming the flag", err, out)
	}

	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--min-agent-version", "1.0.0")
	company, _, code := setupConnection(t, c, "gnucash")
	runAgent(t, linkAgent(t, c, code, "gnucash", sampleBook))
	var agents struct {
		Results []struct {
			ID, Status, AgentVersion, MinimumVersion string
			BelowMinimumVersion                      bool
		}
	}
	waitFor(t, time.Minute, "the agent online", func() bool {
		c.do("GET", "/agents", nil, &agents)
		return len(agents.Results) == 1 && agents.Results[0].Status == "Online"
	})
	a := agents.Results[0]
	if !a.BelowMinimumVersion || a.MinimumVersion != "1.0.0" || a.AgentVersion != "dev" {
		t.Errorf("agent %+v: want version dev below the minimum 1.0.0", a)
	}
	var evs struct {
		Results []struct{ Type, Detail string }
	}
	waitFor(t, time.Minute, "the BelowMinimumVersion event", func() bool {
		c.do("GET", "/agents/"+a.ID+"/events", nil, &evs)
		for _, e := range evs.Results {
			if e.Type == "BelowMinimumVersion" && strings.Contains(e.Detail, "below the minimum 1.0.0") {
				return true
			}
		}
		return false
	})
	// A heartbeat later the agent is still online, and nothing moved.
	var live struct{ Status, LastSeen string }
	c.do("GET", "/agents/"+a.ID, nil, &live)
	first := live.LastSeen
	waitFor(t, time.Minute, "a heartbeat", func() bool {
		c.do("GET", "/agents/"+a.ID, nil, &live)
		return live.LastSeen != first
	})
	if live.Status != "Online" {
		t.Errorf("the agent below the minimum is %s, want Online", live.Status)
	}
	for typ, st := range dataStatus(t, c, company) {
		if st != "Queued" {
			t.Errorf("%s is %s, want Queued: the agent below the minimum gets no work", typ, st)
		}
	}
}
