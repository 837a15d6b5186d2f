package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChaos is the chaos tool's short form: 40 agents in 8 processes
// through 200 datasets while the coordinator (the race build) is killed
// with SIGKILL, agent processes are killed, and the agents' connections
// are cut, delayed and refused; then every invariant must hold. The faults
// are drawn from a fixed seed, logged, one of each kind first; the
// verdict does not depend on their timing.
func TestChaos(t *testing.T) {
	parallel(t)
	runChaos(t, []string{"coordinator killed"}, "-listen", freeAddr(t), "-agents", "40", "-per-process", "5", "-datasets", "200", "-seed", "8",
		"-fault-every", "1s", "-duration", "15s")
}

// TestChaosReplicas is the chaos tool's short form on three replicas on
// PostgreSQL behind HAProxy: 30 agents through 120 datasets while
// replicas are killed with SIGKILL, PostgreSQL is stopped as in a crash
// and started again, agent processes are killed and their connections
// cut, delayed and refused; then every invariant must hold.
func TestChaosReplicas(t *testing.T) {
	parallel(t)
	runChaos(t, []string{"replica killed", "database restarted"}, "-store", "postgres", "-replicas", "3", "-agents", "30", "-per-process", "5", "-datasets", "120", "-seed", "9",
		"-fault-every", "1s", "-duration", "15s")
}

// runChaos runs the chaos tool (built once for both tests) with args
// (after -bin, -dir and the settings the short forms share), and checks
// its verdict: every invariant held, and every kind of fault was injected,
// the kinds every run has and the run's own (faults).
func runChaos(t *testing.T, faults []string, args ...string) {
	if testing.Short() {
		t.Skip("chaos run: not with -short")
	}
	tool := filepath.Join(chaosBuild.get(t), "chaos")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	args = append([]string{"-bin", binDir, "-dir", t.TempDir(), "-records", "20", "-lease-ttl", "3s", "-settle", "2m", "-backoff-max", "2s"}, args...)
	cmd := exec.CommandContext(ctx, tool, args...)
	// At the limit the tool is interrupted, so that it stops what it
	// started and prints what it has; its output is read for at most 30 s
	// more, so that a process it started and left running (PostgreSQL,
	// HAProxy, holding the pipe) cannot keep the verdict from the log.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the chaos run did not end within 5 minutes:\n%s", out)
	}
	if err != nil {
		t.Fatalf("chaos: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS: zero lost, zero stuck, zero doubled") {
		t.Fatalf("no verdict:\n%s", out)
	}
	for _, f := range append(faults, "agent process killed", "connections cut", "delay", "network down") {
		if !strings.Contains(string(out), "fault "+f+" ") {
			t.Errorf("no fault %q was injected", f)
		}
	}
	t.Logf("%s", out)
}
