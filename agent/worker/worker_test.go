package worker_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/coordinator/server/servertest"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// coordinator is a real coordinator in this process on a loopback port.
type coordinator struct {
	*servertest.Coordinator
	t *testing.T
}

func startCoordinator(t *testing.T, data, addr string) *coordinator {
	t.Helper()
	return &coordinator{servertest.Start(t, data, addr), t}
}

// linked creates a company and a csv connection and links it to a new
// agent, as `ferry-agent link` does, returning the worker's binding and the
// new credential.
func (c *coordinator) linked(path string) (string, worker.Binding, string) {
	c.t.Helper()
	company, b, lr := c.link("", "csv", path)
	if lr.Credential == "" {
		c.t.Fatal("a first link returned no credential")
	}
	return company, b, lr.Credential
}

// linkedTo links a new company's csv connection to the agent with cred.
func (c *coordinator) linkedTo(cred, path string) (string, worker.Binding) {
	c.t.Helper()
	company, b, lr := c.link(cred, "csv", path)
	if lr.Credential != "" {
		c.t.Fatalf("a link with a credential returned a new one: %+v", lr)
	}
	return company, b
}

// link creates a company and a connection of platform key at path and
// exchanges its code, with the agent credential cred ("" for a new agent).
func (c *coordinator) link(cred, key, path string) (string, worker.Binding, protocol.LinkResponse) {
	c.t.Helper()
	var co, conn struct {
		ID             string
		ConnectionInfo map[string]string
	}
	c.API("POST", "/companies", map[string]string{"name": "Acme"}, &co)
	c.API("POST", "/companies/"+co.ID+"/connections", map[string]string{"platformKey": key}, &conn)
	raw, _ := json.Marshal(protocol.LinkRequest{Code: conn.ConnectionInfo["linkCode"], PlatformKey: key})
	req, _ := http.NewRequest("POST", c.URL+protocol.LinkPath, bytes.NewReader(raw))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var lr protocol.LinkResponse
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("link: %d %v", resp.StatusCode, err)
	}
	src, err := sources.Open(key, path)
	if err != nil {
		c.t.Fatal(err)
	}
	return co.ID, worker.Binding{ConnectionID: lr.ConnectionID, CompanyID: lr.CompanyID, Source: src}, lr
}

func (c *coordinator) statuses(company string) map[string]string {
	var ds map[string]struct{ CurrentStatus string }
	c.API("GET", "/companies/"+company+"/dataStatus", nil, &ds)
	out := map[string]string{}
	for k, v := range ds {
		out[k] = v.CurrentStatus
	}
	return out
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func allComplete(m map[string]string) bool {
	for _, s := range m {
		if s != "Complete" {
			return false
		}
	}
	return len(m) > 0
}

// runWorker runs a worker of b with cred against c until the test ends.
func runWorker(t *testing.T, c *coordinator, b worker.Binding, cred string) *worker.Worker {
	t.Helper()
	return startWorker(t, worker.Config{Coordinator: c.URL, Credential: cred, Bindings: []worker.Binding{b}, Concurrency: 2})
}

// startWorker runs a worker of cfg until the test ends; an error from its
// Run fails the test. Zero fields take the tests' defaults: version
// "test", no log, the agent's HTTP client, reconnects after 20 to 200 ms,
// a status file in a temporary folder.
func startWorker(t *testing.T, cfg worker.Config) *worker.Worker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = upload.NewHTTPClient(cfg.Logger, nil)
	}
	cfg.Version = cmp.Or(cfg.Version, "test")
	cfg.BackoffMin = cmp.Or(cfg.BackoffMin, 20*time.Millisecond)
	cfg.BackoffMax = cmp.Or(cfg.BackoffMax, 200*time.Millisecond)
	cfg.StatusFile = cmp.Or(cfg.StatusFile, filepath.Join(t.TempDir(), "status.json"))
	w := worker.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w
}

var sample, _ = filepath.Abs("../../testdata/sample-csv")

func TestWorkerSyncsEveryType(t *testing.T) {
	c := startCoordinator(t, t.TempDir(), "127.0.0.1:0")
	company, b, cred := c.linked(sample)
	w := runWorker(t, c, b, cred)
	waitFor(t, 30*time.Second, "every type Complete", func() bool { return allComplete(c.statuses(company)) })
	st := w.Status()
	if !st.Connected || st.AgentID == "" {
		t.Errorf("status %+v, want connected with an agent id", st)
	}
}

func TestWorkerReconnectsAfterCoordinatorRestart(t *testing.T) {
	data := t.TempDir()
	c := startCoordinator(t, data, "127.0.0.1:0")
	company, b, cred := c.linked(sample)
	w := runWorker(t, c, b, cred)
	waitFor(t, 30*time.Second, "first sync", func() bool { return allComplete(c.statuses(company)) })
	c.Stop()
	waitFor(t, 10*time.Second, "the worker to notice", func() bool { return !w.Status().Connected })
	c2 := startCoordinator(t, data, c.Addr)
	c2.URL = c.URL
	waitFor(t, 10*time.Second, "the worker to reconnect", func() bool { return w.Status().Connected })
	var op struct{ ID, Status string }
	c2.API("POST", "/companies/"+company+"/data/queue/invoices", nil, &op)
	waitFor(t, 30*time.Second, "the new sync", func() bool {
		var got struct{ Status string }
		c2.API("GET", "/companies/"+company+"/data/history/"+op.ID, nil, &got)
		return got.Status == "Complete"
	})
}

func TestWorkerRefusedCredential(t *testing.T) {
	c := startCoordinator(t, t.TempDir(), "127.0.0.1:0")
	_, b, _ := c.linked(sample)
	w := runWorker(t, c, b, "fra_not-a-credential")
	waitFor(t, 10*time.Second, "the refusal in the status", func() bool { return w.Status().LastError == worker.ErrUnauthorized.Error() })
	if w.Status().Connected {
		t.Error("connected with a refused credential")
	}
}

func TestWorkerTakesNewBindings(t *testing.T) {
	c := startCoordinator(t, t.TempDir(), "127.0.0.1:0")
	first, a, cred := c.linked(sample)
	w := runWorker(t, c, a, cred)
	waitFor(t, 30*time.Second, "the first binding's sync", func() bool { return allComplete(c.statuses(first)) })
	// A second company linked to the same agent, as `ferry-agent link`
	// with the existing credential does.
	second, b := c.linkedTo(cred, sample)
	w.SetBindings([]worker.Binding{a, b})
	waitFor(t, 30*time.Second, "the new binding's sync", func() bool { return allComplete(c.statuses(second)) })
}
