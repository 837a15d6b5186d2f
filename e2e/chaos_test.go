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
	if testing.Short() {
		t.Skip("chaos run: not with -short")
	}
	tool := filepath.Join(t.TempDir(), "chaos")
	if out, err := exec.Command("go", "build", "-o", tool, "./chaos").CombinedOutput(); err != nil {
		t.Fatalf("build the chaos tool: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, "-bin", binDir, "-dir", t.TempDir(), "-listen", freeAddr(t),
		"-agents", "40", "-per-process", "5", "-datasets", "300", "-records", "20", "-seed", "8",
		"-lease-ttl", "3s", "-fault-every", "700ms", "-duration", "30s", "-settle", "2m")
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
	t.Logf("%s", out)
}
