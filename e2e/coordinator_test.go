package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type pullOp struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	DataType string `json:"dataType"`
	Timeline []struct {
		To    string `json:"to"`
		Actor string `json:"actor"`
	} `json:"timeline"`
}

// TestKill9LosesNothing acknowledges companies, connections, datasets and
// transitions, kills the coordinator with SIGKILL, restarts it on the same
// data directory and finds every one of them.
func TestKill9LosesNothing(t *testing.T) {
	parallel(t)
	data := t.TempDir()
	addr := freeAddr(t)
	c := startCoordinator(t, data, addr)

	type acked struct {
		company, conn string
		datasets      []pullOp
	}
	var all []acked
	for i := range 5 {
		var co, conn struct{ ID string }
		if s := c.do("POST", "/companies", map[string]any{"name": fmt.Sprintf("Company %d", i)}, &co); s != 200 {
			t.Fatalf("create company: %d", s)
		}
		if s := c.do("POST", "/companies/"+co.ID+"/connections", map[string]any{"platformKey": "gnucash"}, &conn); s != 200 {
			t.Fatalf("create connection: %d", s)
		}
		a := acked{company: co.ID, conn: conn.ID}
		for _, dt := range []string{"invoices", "bills", "customers"} {
			var op pullOp
			if s := c.do("POST", "/companies/"+co.ID+"/data/queue/"+dt, nil, &op); s != 200 {
				t.Fatalf("queue: %d", s)
			}
			a.datasets = append(a.datasets, op)
		}
		all = append(all, a)
	}
	// Unlinking the last connection moves its Queued datasets to AuthError:
	// acknowledged transitions too.
	last := all[len(all)-1]
	if s := c.do("PATCH", "/companies/"+last.company+"/connections/"+last.conn, map[string]any{"status": "Unlinked"}, nil); s != 200 {
		t.Fatalf("unlink: %d", s)
	}
	c.kill()

	c = startCoordinator(t, data, addr)
	for i, a := range all {
		var co struct {
			Name            string
			DataConnections []struct{ ID, Status string }
		}
		if s := c.do("GET", "/companies/"+a.company, nil, &co); s != 200 || co.Name != fmt.Sprintf("Company %d", i) {
			t.Fatalf("company %d after kill -9: %d %+v", i, s, co)
		}
		wantStatus, wantDS := "PendingAuth", "Queued"
		if i == len(all)-1 {
			wantStatus, wantDS = "Unlinked", "AuthError"
		}
		if len(co.DataConnections) != 1 || co.DataConnections[0].ID != a.conn || co.DataConnections[0].Status != wantStatus {
			t.Errorf("company %d connections %+v, want %s %s", i, co.DataConnections, a.conn, wantStatus)
		}
		for _, d := range a.datasets {
			var got pullOp
			if s := c.do("GET", "/companies/"+a.company+"/data/history/"+d.ID, nil, &got); s != 200 {
				t.Fatalf("dataset %s after kill -9: %d", d.ID, s)
			}
			if got.Status != wantDS || got.DataType != d.DataType || got.Timeline[0].To != "Queued" ||
				got.Timeline[len(got.Timeline)-1].To != wantDS {
				t.Errorf("dataset %s = %+v, want %s with its timeline", d.ID, got, wantDS)
			}
		}
	}
}

// TestAdminKeyAndCleanStop starts without FERRY_ADMIN_KEY: the key is
// printed once and written owner-only; SIGTERM stops the process cleanly.
func TestAdminKeyAndCleanStop(t *testing.T) {
	parallel(t)
	data := t.TempDir()
	addr := freeAddr(t)
	start := func() (*exec.Cmd, *syncBuffer, chan error) {
		cmd := exec.Command(filepath.Join(binDir, "ferry-coordinator"), "--listen", addr, "--data", data)
		cmd.Env = withoutEnv(os.Environ(), "FERRY_ADMIN_KEY")
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		waitFor(t, 30*time.Second, "serving", func() bool { return strings.Contains(out.String(), "coordinator serving") })
		return cmd, out, done
	}
	stop := func(cmd *exec.Cmd, done chan error, out *syncBuffer) {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no exit 30s after SIGTERM")
		}
		if !strings.Contains(out.String(), "coordinator stopped") {
			t.Errorf("no clean-stop log line:\n%s", out.String())
		}
	}

	cmd, out, done := start()
	keyFile := filepath.Join(data, "admin-key")
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin-key mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(keyFile)
	key := strings.TrimSpace(string(raw))
	if !strings.Contains(out.String(), key) {
		t.Errorf("the generated key was not printed")
	}
	c := &coordinator{t: t, addr: addr, key: key}
	if s := c.do("GET", "/companies", nil, nil); s != 200 {
		t.Errorf("the printed key is refused: %d", s)
	}
	stop(cmd, done, out)

	cmd, out, done = start()
	if strings.Contains(out.String(), key) || strings.Contains(out.String(), "Admin API key") {
		t.Errorf("the second start printed a key again:\n%s", out.String())
	}
	if s := c.do("GET", "/companies", nil, nil); s != 200 {
		t.Errorf("the key from the first start is refused after restart: %d", s)
	}
	stop(cmd, done, out)
}

func TestBadFlags(t *testing.T) {
	parallel(t)
	for _, args := range [][]string{
		{"--listen", "nonsense"},
		{"--public-url", "ftp://x"},
		{"--log-level", "loud"},
		{"--event-retention", "10m"},
		{"--idle-timeout", "0s"},
		{"--max-auth-failures", "0"},
		{"--no-such-flag"},
	} {
		out, err := exec.Command(filepath.Join(binDir, "ferry-coordinator"), append(args, "--data", t.TempDir())...).CombinedOutput()
		if err == nil {
			t.Errorf("%v: exit 0, want an error", args)
		}
		if !strings.Contains(string(out), "ferry-coordinator") && !strings.Contains(string(out), "flag") {
			t.Errorf("%v: no clear message: %s", args, out)
		}
	}
}

// TestShortAdminKeyRefused: the real binary refuses FERRY_ADMIN_KEY
// shorter than 32 characters at start-up, with a message naming it and a
// non-zero exit.
func TestShortAdminKeyRefused(t *testing.T) {
	parallel(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "ferry-coordinator"), "--listen", freeAddr(t), "--data", t.TempDir())
	cmd.Env = append(withoutEnv(os.Environ(), "FERRY_ADMIN_KEY"), "FERRY_ADMIN_KEY=a")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the coordinator started with FERRY_ADMIN_KEY=a:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), "FERRY_ADMIN_KEY") || !strings.Contains(string(out), "at least 32") {
		t.Errorf("FERRY_ADMIN_KEY=a: %v, output %q; want a non-zero exit naming FERRY_ADMIN_KEY and 32 characters", err, out)
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}
