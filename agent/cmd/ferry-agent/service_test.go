package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A freshly installed service has no config yet: it waits for a link,
// saying what to run, instead of failing into a restart loop.
func TestServiceWaitsForALink(t *testing.T) {
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, filepath.Join(t.TempDir(), "agent.json"), newLogger(&logs, nil), nil, true)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "not linked yet; waiting for: ferry-agent link") {
		select {
		case err := <-done:
			t.Fatalf("run returned %v before a link; log:\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no waiting message; log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("stopped while waiting: %v", err)
	}
}

func TestRespawnRunsTheAgentWithoutRespawn(t *testing.T) {
	got := childArgs([]string{"--respawn", "--service", "--config", "/etc/ferry/agent.json", "-respawn=true"})
	if want := []string{"run", "--service", "--config", "/etc/ferry/agent.json"}; !slices.Equal(got, want) {
		t.Errorf("child %q, want %q", got, want)
	}
}
