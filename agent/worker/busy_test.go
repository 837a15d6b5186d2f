package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/upload"
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
	defer srv.Close()
	log := slog.New(slog.DiscardHandler)
	w := worker.New(worker.Config{
		Coordinator: srv.URL, Credential: "fra_test", Concurrency: 1, Version: "test", Logger: log,
		HTTP: upload.NewHTTPClient(log, nil), BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		StatusFile: filepath.Join(t.TempDir(), "status.json"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
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
