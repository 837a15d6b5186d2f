package e2e

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentStatusCommand checks what `ferry-agent status` says before,
// while and after the agent runs, and the version and usage answers.
func TestAgentStatusCommand(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, conn, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", sampleCSV)
	status := func() string {
		t.Helper()
		out, err := ferryAgent(t, nil, "status", "--config", config)
		if err != nil {
			t.Fatalf("ferry-agent status: %v\n%s", err, out)
		}
		return out
	}
	binding := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(conn) + `\s+company ` + regexp.QuoteMeta(company) +
		`\s+csv\s+` + regexp.QuoteMeta(sampleCSV) + `$`)
	connected := regexp.MustCompile(`(?m)^state:\s+connected since `)

	if out := status(); !binding.MatchString(out) || !strings.Contains(out, "not running") {
		t.Errorf("status before the agent ran:\n%s", out)
	}

	agent := runAgent(t, config)
	var out string
	waitFor(t, 30*time.Second, "status to say connected", func() bool {
		out = status()
		return connected.MatchString(out)
	})
	if !binding.MatchString(out) || !strings.Contains(out, "coordinator: "+c.url()) {
		t.Errorf("status of the running agent lacks its binding or coordinator:\n%s", out)
	}

	// A clean stop says so.
	if err := agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-agent.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop within 30s of SIGTERM")
	}
	if code := agent.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM: %d, want 0", code)
	}
	if out := status(); connected.MatchString(out) || !strings.Contains(out, "disconnected") {
		t.Errorf("status after the agent stopped:\n%s", out)
	}

	out, err := ferryAgent(t, nil, "version")
	if err != nil || !regexp.MustCompile(`^ferry-agent \S+ \(commit \S+, built \S+\)\n$`).MatchString(out) {
		t.Errorf("ferry-agent version: %v %q, want one line with version, commit and build date", err, out)
	}

	for _, args := range [][]string{{"frobnicate"}, {}} {
		out, err := ferryAgent(t, nil, args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("ferry-agent %v: err %v, want a non-zero exit", args, err)
		}
		if !strings.Contains(out, "usage: ferry-agent") {
			t.Errorf("ferry-agent %v printed no usage:\n%s", args, out)
		}
	}
	if out, _ := ferryAgent(t, nil, "frobnicate"); !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Errorf("an unknown command is not named:\n%s", out)
	}
}
