//go:build !windows

package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The agent is a child of the supervisor that runs a program of its own.
func TestAgentChildIsWhatRuns(t *testing.T) {
	if got := agentChild(os.Getpid()); got != 0 {
		t.Fatalf("agentChild before any child: %d, want 0", got)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := agentChild(os.Getpid()); got != cmd.Process.Pid {
		t.Errorf("agentChild with a running child: %d, want %d", got, cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if got := agentChild(os.Getpid()); got != 0 {
		t.Errorf("agentChild after the child ended: %d, want 0", got)
	}
}

func TestLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("first\nstart-stop-daemon: unable to start /x (Permission denied)\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := lastLine(path), "start-stop-daemon: unable to start /x (Permission denied)"; got != want {
		t.Errorf("lastLine: %q, want %q", got, want)
	}
}
