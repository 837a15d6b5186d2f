package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSysVServiceReportsWhatRuns runs the real binary as a SysV service.
// install refuses a binary the service account cannot run, naming the
// folder at fault; start waits for the agent to run; when the agent cannot
// be started again (its folder closed to the account), status says so
// with the error instead of "running", and restart fails.
func TestSysVServiceReportsWhatRuns(t *testing.T) {
	parallel(t)
	needRootWithoutSystemd(t)
	base, err := os.MkdirTemp("", "ferry-e2e-service-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	locked := filepath.Join(base, "locked")
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{base, 0o755}, {locked, 0o700}} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(locked, "ferry-agent")
	copyFile(t, filepath.Join(binDir, "ferry-agent"), bin, 0o755)
	const config = "/etc/ferry/agent.json"
	t.Cleanup(func() {
		_ = exec.Command(bin, "uninstall", "--config", config).Run()
		_ = exec.Command("userdel", "ferry").Run()
		_ = exec.Command("groupdel", "ferry").Run()
		for _, p := range []string{"/etc/ferry", "/var/log/ferry-agent.log", "/run/ferry-agent.pid"} {
			os.RemoveAll(p)
		}
	})
	agent := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--config", config)...).CombinedOutput()
		return string(out), err
	}

	out, err := agent("install")
	if err == nil || !strings.Contains(out, "may not enter the folder "+locked) || !strings.Contains(out, "chmod o+x "+locked) {
		t.Errorf("install of a binary in a root-only folder: %v\n%s\nwant a refusal naming %s and the fix", err, out, locked)
	}
	if _, err := os.Stat("/etc/init.d/ferry-agent"); err == nil {
		t.Error("the refused install registered the service")
	}

	if err := os.Chmod(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	// A bound book the account cannot read is refused too, by its path.
	book := filepath.Join(base, "books.gnucash")
	if err := os.WriteFile(book, []byte("<gnc-v2/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/etc/ferry", 0o700); err != nil {
		t.Fatal(err)
	}
	linked := `{"coordinator": "http://127.0.0.1:1", "credential": "fra_x", "bindings": [{"connectionId": "conn-1", "companyId": "co-1", "platformKey": "gnucash", "path": "` + book + `"}]}`
	if err := os.WriteFile(config, []byte(linked), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := agent("install"); err == nil || !strings.Contains(out, "cannot read the book of connection conn-1 "+book) {
		t.Errorf("install with an unreadable book: %v\n%s\nwant a refusal naming %s", err, out, book)
	}
	if err := os.Remove(config); err != nil {
		t.Fatal(err)
	}
	if out, err := agent("install"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if out, err := agent("start"); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	if out, _ := agent("status"); !strings.Contains(out, "service:     running (unix-systemv)") {
		t.Errorf("status after start:\n%s", out)
	}
	pids := agentPIDs(t)
	if len(pids) != 1 {
		t.Fatalf("agent processes after start: %v, want one", pids)
	}

	// The folder closes to the account and the agent dies: its supervisor
	// cannot start it again.
	if err := os.Chmod(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "status to say failing, with the error", func() bool {
		out, _ = agent("status")
		return strings.Contains(out, "service:     failing (unix-systemv)") && strings.Contains(out, "permission denied")
	})
	if strings.Contains(out, "running") {
		t.Errorf("status of a service whose agent cannot start says running:\n%s", out)
	}

	// restart: the supervisor stops, and a new one cannot start.
	out, err = agent("restart")
	if err == nil || !strings.Contains(out, "did not start") || !strings.Contains(out, "Permission denied") {
		t.Errorf("restart of a service that cannot start: %v\n%s\nwant a failure with the error", err, out)
	}
	out, _ = agent("status")
	if !strings.Contains(out, "service:     stopped (unix-systemv)") || !strings.Contains(out, "Permission denied") {
		t.Errorf("status of a service that could not start:\n%s", out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
