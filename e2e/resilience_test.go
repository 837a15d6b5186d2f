package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// bigRows is the size of the customers file the kill tests sync: enough
// that the upload takes seconds under -race (so the test can kill a
// process while the dataset is in Mapping) and outlasts a short lease, so
// that only heartbeats keep the lease alive.
const bigRows = 50_000

// TestAgentOfflineWhenQueued links an agent without running it: the
// first-link datasets wait in Queued, API calls do not disturb them, and
// the agent, once running, takes exactly those datasets to Complete.
func TestAgentOfflineWhenQueued(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, conn, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", sampleCSV)

	queued := latestSyncs(t, c, company)
	checkStillQueued := func(when string) {
		t.Helper()
		for dt, id := range queued {
			if id == "" {
				t.Fatalf("%s: %s was not queued on first link", when, dt)
			}
			d := getDataset(t, c, company, id)
			if d.Status != "Queued" || d.Attempt != 1 || len(d.Timeline) != 1 {
				t.Errorf("%s: %s", when, d)
			}
		}
	}
	checkStillQueued("after link")
	if len(queued) != len(dataset.DataTypes) {
		t.Fatalf("first link queued %d types, want %d: %v", len(queued), len(dataset.DataTypes), queued)
	}

	// Every type is fetched on first link, so queueing one more finds it in
	// progress: 409 naming the waiting dataset, with or without the
	// connection named; queue all queues nothing new.
	for _, q := range []string{"", "?connectionId=" + conn} {
		var e struct {
			StatusCode int
			Error      string
		}
		s := c.do("POST", "/companies/"+company+"/data/queue/invoices"+q, nil, &e)
		if s != 409 || !strings.Contains(e.Error, queued["invoices"]) {
			t.Errorf("queue invoices%s while queued: %d %+v, want 409 naming %s", q, s, e, queued["invoices"])
		}
	}
	if s := c.do("POST", "/companies/"+company+"/data/all", nil, nil); s != 204 {
		t.Errorf("queue all: %d, want 204", s)
	}
	var hist struct{ TotalResults int }
	if s := c.do("GET", "/companies/"+company+"/data/history", nil, &hist); s != 200 || hist.TotalResults != len(dataset.DataTypes) {
		t.Errorf("history after queueing again: %d, %d datasets, want %d", s, hist.TotalResults, len(dataset.DataTypes))
	}
	checkStillQueued("after queueing with the agent offline")

	runAgent(t, config)
	waitAllComplete(t, c, company, 90*time.Second)
	for dt, id := range latestSyncs(t, c, company) {
		if id != queued[dt] {
			t.Errorf("%s completed as dataset %s, want the one queued on first link, %s", dt, id, queued[dt])
		}
	}
	for _, dt := range []string{"company", "chartOfAccounts", "taxRates", "customers", "suppliers", "invoices", "bills", "journalEntries"} {
		compareWithSource(t, c, company, dt)
	}
}

// waitUploading waits until the dataset is in Mapping and the agent has
// started uploading page 3 (its debug log names each request), and fails
// if the dataset got past Mapping before that.
func waitUploading(t *testing.T, c *coordinator, company, id string, agent *agentProc) datasetView {
	t.Helper()
	return waitDataset(t, c, company, id, 60*time.Second, "customers in Mapping, page 3 uploading", func(d datasetView) bool {
		switch d.Status {
		case "Validating", "Processing", "Complete":
			t.Fatalf("the upload ended before the test saw it (make bigRows larger): %s", d)
		}
		return d.Status == "Mapping" && strings.Contains(agent.out.String(), "/pages/3")
	})
}

// checkBigSync checks the outcome of syncing the big folder: customers
// Complete with every row once, every other type NotSupported.
func checkBigSync(t *testing.T, c *coordinator, company string) {
	t.Helper()
	for dt, st := range dataStatus(t, c, company) {
		want := "NotSupported"
		if dt == "customers" {
			want = "Complete"
		}
		if st != want {
			t.Errorf("%s is %s, want %s", dt, st, want)
		}
	}
	checkAllCustomers(t, c, company, bigRows)
}

// TestAgentKilledMidUpload SIGKILLs the agent halfway through an upload:
// the lease expires, the dataset goes back to Queued for attempt 2, and
// the restarted agent completes it with every record exactly once.
func TestAgentKilledMidUpload(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	writeBigCustomers(t, dir, bigRows)
	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--lease-ttl", "3s")
	company, _, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", dir)
	id := latestSyncs(t, c, company)["customers"]

	agent := runAgent(t, config)
	if d := waitUploading(t, c, company, id, agent); d.Attempt != 1 {
		t.Fatalf("first claim: %s", d)
	}
	agent.kill()

	d := waitDataset(t, c, company, id, 30*time.Second, "lease expiry: Queued, attempt 2", func(d datasetView) bool {
		return d.Status == "Queued" && d.Attempt == 2
	})
	last := d.Timeline[len(d.Timeline)-1]
	if last.From != "Mapping" || last.To != "Queued" || last.Actor != "coordinator" {
		t.Errorf("the expiry is not in the timeline as Mapping -> Queued by coordinator: %s", d)
	}

	runAgent(t, config)
	d = waitDataset(t, c, company, id, 120*time.Second, "customers Complete", func(d datasetView) bool {
		if d.Attempt > 2 {
			t.Fatalf("the lease expired again while the restarted agent was running and connected: "+
				"its heartbeats do not keep a 3s lease alive: %s", d)
		}
		return d.Status == "Complete"
	})
	if d.Attempt != 2 {
		t.Errorf("the restarted agent needed more than one attempt: %s", d)
	}
	checkBigSync(t, c, company)
}

// TestCoordinatorKilledMidSync SIGKILLs the coordinator while the agent
// uploads and restarts it on the same data and address: the agent
// reconnects by itself and the dataset ends Complete, whether its lease
// survived or it was queued again.
func TestCoordinatorKilledMidSync(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	writeBigCustomers(t, dir, bigRows)
	data, addr := t.TempDir(), freeAddr(t)
	c := startCoordinator(t, data, addr, "--lease-ttl", "5s")
	company, _, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", dir)
	id := latestSyncs(t, c, company)["customers"]

	agent := runAgent(t, config)
	waitUploading(t, c, company, id, agent)
	c.kill()
	c = startCoordinator(t, data, addr, "--lease-ttl", "5s")

	// The agent reconnects within its 2 s cap of backoff (runAgentBin); the
	// upload then resumes or starts again.
	d := waitDataset(t, c, company, id, 150*time.Second, "customers Complete after the restart", func(d datasetView) bool {
		return d.Status == "Complete"
	})
	if n := strings.Count(agent.out.String(), "connected to the coordinator"); n < 2 {
		t.Errorf("the agent connected %d times, want a reconnection", n)
	}
	t.Logf("completed on attempt %d", d.Attempt)
	checkBigSync(t, c, company)
}
