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

// A unit systemd keeps restarting (the binary cannot be run: 203/EXEC)
// is failing, not running.
func TestParseSystemdShow(t *testing.T) {
	tests := []struct {
		out  string
		want State
	}{
		{"LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nMainPID=42\nExecMainStatus=0\n", State{Name: "running", PID: 42}},
		{"LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nResult=exit-code\nMainPID=0\nExecMainStatus=203\n",
			State{Name: "failing", Detail: "activating (auto-restart): result exit-code, exit status 203; see: journalctl -u ferry-agent"}},
		{"LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\nMainPID=0\nExecMainStatus=1\n",
			State{Name: "failing", Detail: "failed (failed): result exit-code, exit status 1; see: journalctl -u ferry-agent"}},
		{"LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\n", State{Name: "stopped"}},
		{"LoadState=not-found\nActiveState=inactive\nSubState=dead\n", State{Name: "not installed"}},
		{"LoadState=loaded\nActiveState=activating\nSubState=start\nMainPID=0\n", State{Name: "activating", Detail: "start"}},
	}
	for _, tt := range tests {
		if got := parseSystemdShow(tt.out); got != tt.want {
			t.Errorf("parseSystemdShow(%q) = %+v, want %+v", tt.out, got, tt.want)
		}
	}
}
