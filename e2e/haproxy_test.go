package e2e

import (
	"context"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/e2e/sim"
)

// startHAProxy runs HAProxy in front of the coordinators (checking their
// /readyz every 200ms) on listen, and waits until every one is in rotation.
// The returned coordinator calls the API through it.
func startHAProxy(t *testing.T, listen string, backends ...*coordinator) (*sim.HAProxy, *coordinator) {
	t.Helper()
	addrs := make([]string, len(backends))
	for i, c := range backends {
		addrs[i] = c.addr
	}
	log := &syncBuffer{}
	h, err := sim.StartHAProxy(t.Context(), sim.HAProxyOptions{Listen: listen, Backends: addrs, CheckInterval: 200 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	t.Cleanup(func() {
		h.Close()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", log)
		}
	})
	waitBackends(t, h, 10*time.Second, "every backend up", sim.AllUp)
	return h, &coordinator{t: t, addr: h.Addr, key: e2eKey}
}

// waitBackends waits until HAProxy's view of its backends satisfies cond.
func waitBackends(t *testing.T, h *sim.HAProxy, within time.Duration, what string, cond func([]string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	if _, err := h.WaitStatus(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestHAProxy runs a coordinator behind HAProxy: an agent links and
// connects through HAProxy's address and its syncs, queued through it,
// reach Complete; a coordinator that stops answering /readyz (SIGSTOP) is
// taken out of rotation and its agent's channel is closed; once it answers
// again it is back in rotation, the agent reconnects, and a sync completes.
func TestHAProxy(t *testing.T) {
	parallel(t)
	listen := freeAddr(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--public-url", "http://"+listen, "--max-connections-per-address", "-1",
		"--max-auth-failures", "3", sim.ProxyProtocolFrom[0], sim.ProxyProtocolFrom[1])
	h, via := startHAProxy(t, listen, c)

	// HAProxy names each client in its PROXY header: one client's failed
	// authentications lock out that client only.
	attacker := &coordinator{t: t, addr: h.Addr, key: "wrong-key", client: clientFrom(t, "127.0.0.2")}
	other := &coordinator{t: t, addr: h.Addr, key: e2eKey, client: clientFrom(t, "127.0.0.3")}
	for i := range 3 {
		if s := attacker.do("GET", "/companies", nil, nil); s != http.StatusUnauthorized {
			t.Fatalf("wrong key, attempt %d from 127.0.0.2 through HAProxy: %d, want 401", i+1, s)
		}
	}
	if s := attacker.do("GET", "/companies", nil, nil); s != http.StatusTooManyRequests {
		t.Fatalf("wrong key past --max-auth-failures from 127.0.0.2: %d, want 429", s)
	}
	if s := other.do("GET", "/companies", nil, nil); s != http.StatusOK {
		t.Fatalf("right key from 127.0.0.3 while 127.0.0.2 is locked out: %d, want 200", s)
	}

	company, _, code := setupConnection(t, via, "csv")
	config := linkAgent(t, via, code, "csv", sampleCSV)
	if got := readAgentConfig(t, config).Coordinator; got != via.url() {
		t.Fatalf("the agent was linked to %s, want HAProxy's %s", got, via.url())
	}
	agent := runAgent(t, config)
	waitAllComplete(t, via, company, 90*time.Second)
	queueAndComplete(t, via, company, "customers", 60*time.Second)

	// SIGSTOP: the process holds its sockets and answers nothing.
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = c.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	waitBackends(t, h, 10*time.Second, "the stopped coordinator out of rotation", func(s []string) bool {
		return s[0] == "DOWN"
	})
	// With no replica in rotation HAProxy answers 503 itself, at once,
	// rather than hold the request on the stopped one.
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(via.url() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz through HAProxy with its only backend down: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz through HAProxy with its only backend down: %d, want 503", resp.StatusCode)
	}

	resume()
	waitBackends(t, h, 10*time.Second, "the coordinator back in rotation", sim.AllUp)
	waitFor(t, 60*time.Second, "the agent reconnected", func() bool {
		return strings.Count(agent.out.String(), "connected to the coordinator") >= 2
	})
	queueAndComplete(t, via, company, "customers", 60*time.Second)
}

// clientFrom is an HTTP client whose connections come from the loopback
// address local.
func clientFrom(t *testing.T, local string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}).DialContext
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// queueAndComplete queues a data type and waits until the dataset is
// Complete.
func queueAndComplete(t *testing.T, c *coordinator, company, dataType string, within time.Duration) datasetView {
	t.Helper()
	var d datasetView
	if s := c.do("POST", "/companies/"+company+"/data/queue/"+dataType, nil, &d); s != 200 {
		t.Fatalf("queue %s through %s: %d", dataType, c.addr, s)
	}
	return waitDataset(t, c, company, d.ID, within, dataType+" Complete", func(d datasetView) bool {
		return d.Status == "Complete"
	})
}
