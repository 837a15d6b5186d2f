package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/e2e/sim"
)

// replicaAgents is GET /agents with the replica holding each channel.
type replicaAgents struct {
	Results []struct {
		ID          string
		Status      string
		ReplicaID   string
		Connections []struct{ ID string }
	}
}

// TestReplicas runs three coordinator replicas on one PostgreSQL database
// behind HAProxy, with three agents linked and connected through HAProxy.
// Syncs queued through each replica reach Complete. While one agent
// uploads a big file, the replica holding its channel is killed with
// SIGKILL: every agent it held is back on another replica within 30 s and
// the upload's dataset completes (its lease resumed, or expired and
// requeued) with every record once. Then PostgreSQL is stopped as in a
// crash and started again: the replicas answer 503 with canBeRetried
// meanwhile, recover without a restart, and later syncs complete. Every
// dataset's timeline shows nothing lost and nothing done twice.
func TestReplicas(t *testing.T) {
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
	listen := freeAddr(t)
	replicas := make([]*coordinator, 3)
	for i := range replicas {
		replicas[i] = startCoordinator(t, t.TempDir(), freeAddr(t), "--store", url, "--replica-id", fmt.Sprintf("r%d", i),
			"--public-url", "http://"+listen, "--max-connections-per-address", "-1", "--lease-ttl", "5s", sim.ProxyProtocolFrom[0], sim.ProxyProtocolFrom[1])
	}
	h, via := startHAProxy(t, listen, replicas...)

	// Company 0's source is the sample's customers until its first link
	// has synced; then it grows big, so that its upload is under way when
	// the replica holding its agent is killed.
	big := t.TempDir()
	copyFile(t, filepath.Join(sampleCSV, "customers.csv"), filepath.Join(big, "customers.csv"), 0o644)
	companies, conns := make([]string, 3), make([]string, 3)
	agents := make([]*agentProc, 3)
	for i := range companies {
		src := sampleCSV
		if i == 0 {
			src = big
		}
		var code string
		companies[i], conns[i], code = setupConnection(t, via, "csv")
		agents[i] = runAgent(t, linkAgent(t, via, code, "csv", src))
	}
	for _, co := range companies {
		waitAllEnded(t, via, "first link", co)
	}

	// Queued on each replica (whichever holds the agent), through each.
	for i, r := range replicas {
		for _, co := range companies[1:] {
			queueAndComplete(t, r, co, "customers", 60*time.Second)
		}
		t.Logf("syncs queued on r%d completed", i)
	}

	// The replica holding company 0's agent is killed mid-upload.
	writeBigCustomers(t, big, bigRows)
	var d datasetView
	if s := via.do("POST", "/companies/"+companies[0]+"/data/queue/customers", nil, &d); s != 200 {
		t.Fatalf("queue the big customers: %d", s)
	}
	waitUploading(t, via, companies[0], d.ID, agents[0])
	victim := agentsByReplica(t, via, 3)[agentOf(t, via, conns[0])]
	var k int
	fmt.Sscanf(victim, "r%d", &k)
	killed := time.Now()
	replicas[k].kill()
	waitBackends(t, h, 10*time.Second, victim+" out of rotation", func(s []string) bool { return strings.HasPrefix(s[k], "DOWN") })
	waitFor(t, 30*time.Second, "every agent back on a live replica", func() bool {
		now := agentsByReplica(t, via, -1)
		if len(now) != 3 {
			return false
		}
		for _, r := range now {
			if r == victim {
				return false
			}
		}
		return true
	})
	t.Logf("agents back %s after the kill -9 of %s", time.Since(killed).Round(time.Millisecond), victim)
	d = waitDataset(t, via, companies[0], d.ID, 120*time.Second, "the big customers Complete after the kill", func(d datasetView) bool {
		return d.Status == "Complete"
	})
	t.Logf("the big customers completed on attempt %d", d.Attempt)
	checkAllCustomers(t, via, companies[0], bigRows)

	// PostgreSQL down: the live replicas answer 503 that may be retried.
	live := replicas[(k+1)%3]
	pg.Stop(true)
	var e struct{ CanBeRetried string }
	if s := live.do("GET", "/companies/"+companies[1], nil, &e); s != 503 || e.CanBeRetried != "True" {
		t.Errorf("GET a company with the database down: %d %+v, want 503 with canBeRetried", s, e)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	for i, r := range replicas {
		if i == k {
			continue
		}
		select {
		case <-r.done:
			t.Fatalf("r%d exited while the database was down:\n%s", i, r.out)
		default:
		}
		for _, co := range companies[1:] {
			queueAndComplete(t, r, co, "suppliers", 90*time.Second)
		}
	}
	for _, co := range companies {
		checkHistory(t, via, co)
	}
}

// agentsByReplica maps each online agent to the replica holding its
// channel; with want >= 0 it waits until that many are online.
func agentsByReplica(t *testing.T, c *coordinator, want int) map[string]string {
	t.Helper()
	out := map[string]string{}
	read := func() bool {
		var a replicaAgents
		if s := c.do("GET", "/agents", nil, &a); s != 200 {
			return false
		}
		clear(out)
		for _, r := range a.Results {
			if r.Status == "Online" && r.ReplicaID != "" {
				out[r.ID] = r.ReplicaID
			}
		}
		return len(out) == want
	}
	if want < 0 {
		read()
		return out
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("%d agents online", want), read)
	return out
}

// agentOf is the id of the agent linked to the connection.
func agentOf(t *testing.T, c *coordinator, conn string) string {
	t.Helper()
	var a replicaAgents
	if s := c.do("GET", "/agents", nil, &a); s != 200 {
		t.Fatalf("agents: %d", s)
	}
	for _, r := range a.Results {
		for _, cn := range r.Connections {
			if cn.ID == conn {
				return r.ID
			}
		}
	}
	t.Fatalf("no agent holds connection %s: %+v", conn, a)
	return ""
}

// checkHistory checks every dataset of the company: each ended, its
// timeline continuous, each attempt claimed once, and nothing changed
// after it ended (so completed at most once).
func checkHistory(t *testing.T, c *coordinator, company string) {
	t.Helper()
	var list struct {
		Results      []struct{ ID string }
		TotalResults int
	}
	if s := c.do("GET", "/companies/"+company+"/data/history?pageSize=500", nil, &list); s != 200 || len(list.Results) != list.TotalResults {
		t.Fatalf("history of %s: %d, %d of %d", company, s, len(list.Results), list.TotalResults)
	}
	for _, r := range list.Results {
		d := getDataset(t, c, company, r.ID)
		claimed := map[int]bool{}
		for i, s := range d.Timeline {
			switch {
			case i == 0 && s.To != "Queued":
				t.Errorf("dataset %s does not start Queued: %s", d.ID, d)
			case i > 0 && (s.From != d.Timeline[i-1].To || terminal(d.Timeline[i-1].To)):
				t.Errorf("dataset %s: step %d does not follow the one before: %s", d.ID, i, d)
			case s.To == "Fetching" && claimed[s.Attempt]:
				t.Errorf("dataset %s: attempt %d claimed twice: %s", d.ID, s.Attempt, d)
			}
			if s.To == "Fetching" {
				claimed[s.Attempt] = true
			}
		}
		if !terminal(d.Status) || d.Timeline[len(d.Timeline)-1].To != d.Status {
			t.Errorf("dataset %s has not ended, or its timeline disagrees: %s", d.ID, d)
		}
	}
}
