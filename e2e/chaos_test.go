package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChaos is the chaos tool's short form: 40 agents in 8 processes
// through 300 datasets while the coordinator (the race build) is killed
// with SIGKILL, agent processes are killed, and the agents' connections
// are cut, delayed and refused; then every invariant must hold. The faults
// are drawn from a fixed seed, logged; the verdict does not depend on
// their timing.
func TestChaos(t *testing.T) {
	t.Parallel()
	runChaos(t, "-listen", freeAddr(t), "-agents", "40", "-per-process", "5", "-datasets", "300", "-seed", "8",
		"-fault-every", "700ms", "-duration", "30s")
}

// TestChaosReplicas is the chaos tool's short form on three replicas on
// PostgreSQL behind HAProxy: 30 agents through 200 datasets while
// replicas are killed with SIGKILL, PostgreSQL is stopped as in a crash
// and started again, agent processes are killed and their connections
// cut, delayed and refused; then every invariant must hold.
func TestChaosReplicas(t *testing.T) {
	t.Parallel()
	runChaos(t, "-store", "postgres", "-replicas", "3", "-agents", "30", "-per-process", "5", "-datasets", "200", "-seed", "9",
		"-fault-every", "1s", "-duration", "30s")
}

// runChaos runs the chaos tool (built once for both tests) with args
// (after -bin, -dir and the settings the short forms share), and checks
// its verdict.
func runChaos(t *testing.T, args ...string) {
	if testing.Short() {
		t.Skip("chaos run: not with -short")
	}
	tool := filepath.Join(chaosBuild.get(t), "chaos")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	args = append([]string{"-bin", binDir, "-dir", t.TempDir(), "-records", "20", "-lease-ttl", "3s", "-settle", "2m"}, args...)
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the chaos run did not end within 5 minutes:\n%s", out)
	}
	if err != nil {
		t.Fatalf("chaos: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS: zero lost, zero stuck, zero doubled") {
		t.Fatalf("no verdict:\n%s", out)
	}
	t.Logf("%s", out)
}
