package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// busyCoordinator refuses the first refusals upgrades as a coordinator at
// its bound of handshakes does (503 busy, Retry-After: 1), then welcomes
// the agent; it notes when each dial came.
type busyCoordinator struct {
	refusals int
	mu       sync.Mutex
	dials    []time.Time
}

func (c *busyCoordinator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.dials = append(c.dials, time.Now())
	n := len(c.dials)
	c.mu.Unlock()
	if n <= c.refusals {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(protocol.Error{Code: protocol.CodeBusy, Message: "busy"})
		return
	}
	ws, hello, ok := agentHello(w, r)
	if !ok {
		return
	}
	defer ws.Close()
	_ = welcome(ws, hello)
	for ws.ReadJSON(&hello) == nil {
	}
}

func (c *busyCoordinator) gaps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(c.dials); i++ {
		out = append(out, c.dials[i].Sub(c.dials[i-1]))
	}
	return out
}

// TestWorkerWaitsOutBusyRefusals: an agent refused as busy dials again no
// sooner than the refusal's Retry-After, though its own backoff is far
// shorter, and connects once the coordinator lets it in.
func TestWorkerWaitsOutBusyRefusals(t *testing.T) {
	bc := &busyCoordinator{refusals: 2}
	srv := httptest.NewServer(bc)
	t.Cleanup(srv.Close)
	w := startWorker(t, worker.Config{Coordinator: srv.URL, Credential: "fra_test", Concurrency: 1})
	waitFor(t, 30*time.Second, "the agent connected after its refusals", func() bool { return w.Status().Connected })
	gaps := bc.gaps()
	if len(gaps) != 2 {
		t.Fatalf("%d dials after the first, want 2 (two refusals, then the welcome)", len(gaps))
	}
	for i, g := range gaps {
		if g < time.Second {
			t.Errorf("dial %d came %v after a refusal with Retry-After: 1, want at least 1s", i+2, g)
		}
	}
}

// flakyCoordinator fails the first failures dials with 500, welcomes the
// next and closes it at once (a coordinator killed), then welcomes and
// keeps the agent.
type flakyCoordinator struct {
	failures int
	mu       sync.Mutex
	dials    int
}

func (c *flakyCoordinator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.dials++
	n := c.dials
	c.mu.Unlock()
	if n <= c.failures {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	ws, hello, ok := agentHello(w, r)
	if !ok {
		return
	}
	defer ws.Close()
	if err := welcome(ws, hello); err != nil || n == c.failures+1 {
		return
	}
	for ws.ReadJSON(&hello) == nil {
	}
}

// retryLog keeps the waits the worker logs before each dial again.
type retryLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (h *retryLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *retryLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *retryLog) WithGroup(string) slog.Handler            { return h }
func (h *retryLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "retryIn" {
			h.mu.Lock()
			h.waits = append(h.waits, a.Value.Duration())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *retryLog) all() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.waits...)
}

// TestWelcomeStartsTheBackoffAgain: an agent that failed to connect six
// times in a row, then was welcomed and lost the connection at once (a
// coordinator killed), waits the first failure's backoff before it
// dials again, not the seventh's.
func TestWelcomeStartsTheBackoffAgain(t *testing.T) {
	const failures = 6
	const lo = 10 * time.Millisecond
	fc := &flakyCoordinator{failures: failures}
	srv := httptest.NewServer(fc)
	t.Cleanup(srv.Close)
	rl := &retryLog{}
	w := startWorker(t, worker.Config{Coordinator: srv.URL, Credential: "fra_test", Concurrency: 1, Logger: slog.New(rl),
		BackoffMin: lo, BackoffMax: 10 * time.Minute})
	waitFor(t, time.Minute, "the agent connected again after the lost connection", func() bool {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return fc.dials > failures+1 && w.Status().Connected
	})
	waits := rl.all()
	if len(waits) != failures+1 {
		t.Fatalf("the worker logged %d waits, want %d: %v", len(waits), failures+1, waits)
	}
	if got := waits[failures]; got > 2*lo {
		t.Errorf("after the welcomed connection was lost the agent waited %v, want at most %v (the first failure's backoff); waits %v", got, 2*lo, waits)
	}
}
