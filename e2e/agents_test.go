package e2e

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type agentsPage struct {
	Results []struct {
		ID          string
		Status      string
		Hostname    string
		Connections []struct{ ID string }
	}
}

type eventsPage struct {
	Results []struct{ Type, Reason string }
}

// TestKilledAgentGoesOffline runs the real binaries: a linked agent shows
// Online, answers a remote diagnostic and `ferry-agent diagnose` alike;
// killed with SIGKILL it is Offline at once and its events say why, and
// the metrics moved with it.
func TestKilledAgentGoesOffline(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--lease-ttl", "4s")
	_, conn, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", sampleCSV)
	a := runAgent(t, config)

	var agents agentsPage
	waitFor(t, 30*time.Second, "the agent online", func() bool {
		c.do("GET", "/agents", nil, &agents)
		return len(agents.Results) == 1 && agents.Results[0].Status == "Online"
	})
	id := agents.Results[0].ID
	if len(agents.Results[0].Connections) != 1 || agents.Results[0].Connections[0].ID != conn {
		t.Errorf("agent %+v: want connection %s", agents.Results[0], conn)
	}

	var diag struct {
		Healthy bool
		Checks  []struct{ Name, Status, ConnectionID string }
	}
	if s := c.do("POST", "/agents/"+id+"/diagnostics", nil, &diag); s != 200 {
		t.Fatalf("diagnostics: %d", s)
	}
	var seen []string
	for _, ch := range diag.Checks {
		seen = append(seen, ch.Name+"/"+ch.Status+"/"+ch.ConnectionID)
	}
	if !diag.Healthy || !strings.Contains(strings.Join(seen, " "), "source/Pass/"+conn) || !strings.Contains(strings.Join(seen, " "), "clock/Pass") {
		t.Errorf("remote diagnostics %v, want healthy with the source and the clock passing", seen)
	}
	out, err := exec.Command(filepath.Join(binDir, "ferry-agent"), "diagnose", "--config", config).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Pass  source "+conn) || !strings.Contains(string(out), "Pass  clock") ||
		!strings.Contains(string(out), "Pass  credential") {
		t.Errorf("ferry-agent diagnose: %v\n%s", err, out)
	}

	a.kill()
	waitFor(t, 10*time.Second, "the killed agent offline", func() bool {
		c.do("GET", "/agents", nil, &agents)
		return agents.Results[0].Status == "Offline"
	})
	// The hub takes the agent offline, then records why: wait for the event.
	var evs eventsPage
	waitFor(t, 10*time.Second, "the Disconnected event", func() bool {
		c.do("GET", "/agents/"+id+"/events", nil, &evs)
		return len(evs.Results) > 0 && evs.Results[0].Type == "Disconnected"
	})
	if len(evs.Results) < 2 || evs.Results[0].Type != "Disconnected" || evs.Results[0].Reason != "connection lost" {
		t.Errorf("events %+v: want the newest a Disconnected for a connection lost", evs.Results)
	}
	if s := c.do("POST", "/agents/"+id+"/diagnostics", nil, nil); s != 409 {
		t.Errorf("diagnostics of an offline agent: %d, want 409", s)
	}

	m := scrape(t, c)
	for series, want := range map[string]string{
		"ferry_agents_online":                           "0",
		`ferry_agent_events_total{type="Disconnected"}`: "1",
		`ferry_agent_events_total{type="Connected"}`:    "1",
	} {
		if m[series] != want {
			t.Errorf("%s = %q, want %s", series, m[series], want)
		}
	}
}

// scrape reads /metrics: series -> value as written.
func scrape(t *testing.T, c *coordinator) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("GET", c.url()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.httpClient().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %v %v", err, resp)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndexByte(line, ' '); i > 0 && line[0] != '#' {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}
