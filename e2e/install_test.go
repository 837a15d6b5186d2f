package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestLinuxInstallersRunTheAgentAsASysVService builds the Linux installers
// as `make installers` does and, on this machine (no systemd: the SysV
// script), installs the .deb downloaded from the link page, then the
// .tar.gz with its install.sh. Each time the end user links the running
// service to a test coordinator and it syncs; the .deb's agent also keeps
// its link through an upgrade, comes back after SIGKILL and after
// ferry-agent restart, and stops. Removal unlinks (Deauthorized), and
// the purge leaves nothing behind: no files, no user.
func TestLinuxInstallersRunTheAgentAsASysVService(t *testing.T) {
	parallel(t)
	needRootWithoutSystemd(t)
	dist := buildDeb(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--downloads", dist)
	book := readableBook(t)
	t.Run("deb", func(t *testing.T) { debLifecycle(t, c, book) })
	t.Run("tar.gz", func(t *testing.T) { tarLifecycle(t, c, book, dist) })
}

func debLifecycle(t *testing.T, c *coordinator, book string) {
	company, conn, code := setupConnection(t, c, "csv")
	deb := downloadFromLinkPage(t, c, company, conn)
	t.Cleanup(func() { _ = exec.Command("dpkg", "--purge", "ferry-agent").Run() })
	sh(t, "dpkg", "-i", deb)
	if v, _ := exec.Command("ferry-agent", "version").Output(); !regexp.MustCompile(`^ferry-agent 1\.0\.0-e2e \(commit \w+, built \d{4}-\d\d-\d\dT`).Match(v) {
		t.Errorf("ferry-agent version printed %q, want the stamped version, commit and date", v)
	}
	checkOwned(t, "/etc/ferry", "ferry", 0o700)
	waitFor(t, 20*time.Second, "the SysV service to run the agent as ferry", func() bool {
		return exec.Command("/etc/init.d/ferry-agent", "status").Run() == nil && len(agentPIDs(t)) == 1
	})

	// The end user links; the running service picks the config up.
	sh(t, "ferry-agent", "link", "--coordinator", c.url(), "--code", code, "--source", "csv", "--path", book)
	checkOwned(t, "/etc/ferry/agent.json", "ferry", 0o600)
	waitAllComplete(t, c, company, 90*time.Second)
	waitFor(t, 20*time.Second, "ferry-agent status to say connected", func() bool {
		out, _ := exec.Command("ferry-agent", "status").CombinedOutput()
		return strings.Contains(string(out), "service:     running (unix-systemv)") && strings.Contains(string(out), "connected since")
	})

	// An upgrade (the same package again): the service is stopped,
	// registered anew and started; the link survives.
	old := agentPIDs(t)[0]
	sh(t, "dpkg", "-i", deb)
	checkOwned(t, "/etc/ferry/agent.json", "ferry", 0o600)
	waitFor(t, 20*time.Second, "a new agent process after the upgrade", func() bool {
		p := agentPIDs(t)
		return len(p) == 1 && p[0] != old
	})
	var op struct{ ID string }
	if s := c.do("POST", "/companies/"+company+"/data/queue/invoices", nil, &op); s != 200 {
		t.Fatalf("queue after the upgrade: %d", s)
	}
	waitDataset(t, c, company, op.ID, 60*time.Second, "Complete after the upgrade", func(d datasetView) bool { return d.Status == "Complete" })

	// A crash: the supervisor starts the agent again, which syncs again.
	old = agentPIDs(t)[0]
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a new agent process after SIGKILL", func() bool {
		p := agentPIDs(t)
		return len(p) == 1 && p[0] != old
	})
	if s := c.do("POST", "/companies/"+company+"/data/queue/customers", nil, &op); s != 200 {
		t.Fatalf("queue after the restart: %d", s)
	}
	waitDataset(t, c, company, op.ID, 60*time.Second, "Complete after the restart", func(d datasetView) bool { return d.Status == "Complete" })

	// restart: a new agent process, which comes back online.
	old = agentPIDs(t)[0]
	sh(t, "ferry-agent", "restart")
	waitFor(t, 40*time.Second, "a new agent process after ferry-agent restart", func() bool {
		p := agentPIDs(t)
		return len(p) == 1 && p[0] != old
	})
	if s := c.do("POST", "/companies/"+company+"/data/queue/suppliers", nil, &op); s != 200 {
		t.Fatalf("queue after ferry-agent restart: %d", s)
	}
	waitDataset(t, c, company, op.ID, 60*time.Second, "Complete after ferry-agent restart", func(d datasetView) bool { return d.Status == "Complete" })

	sh(t, "ferry-agent", "stop")
	waitFor(t, 40*time.Second, "the agent to stop", func() bool {
		return len(agentPIDs(t)) == 0 && exec.Command("/etc/init.d/ferry-agent", "status").Run() != nil
	})

	sh(t, "dpkg", "--purge", "ferry-agent")
	checkRemoved(t, c, company, conn, "/usr/bin/ferry-agent")
}

// tarLifecycle installs the .tar.gz with its install.sh, links and syncs,
// then runs install.sh --purge.
func tarLifecycle(t *testing.T, c *coordinator, book, dist string) {
	company, conn, code := setupConnection(t, c, "csv")
	tars, _ := filepath.Glob(filepath.Join(dist, "ferry-agent-*-linux-"+runtime.GOARCH+".tar.gz"))
	if len(tars) != 1 {
		t.Fatalf("tarballs %v, want one", tars)
	}
	dir := t.TempDir()
	sh(t, "tar", "-C", dir, "-xzf", tars[0])
	script, _ := filepath.Glob(filepath.Join(dir, "*", "install.sh"))
	if len(script) != 1 {
		t.Fatalf("install.sh in the tarball: %v", script)
	}
	t.Cleanup(func() { _ = exec.Command(script[0], "--purge").Run() })
	sh(t, script[0])
	checkOwned(t, "/etc/ferry", "ferry", 0o700)
	sh(t, "/usr/local/bin/ferry-agent", "link", "--coordinator", c.url(), "--code", code, "--source", "csv", "--path", book)
	checkOwned(t, "/etc/ferry/agent.json", "ferry", 0o600)
	waitAllComplete(t, c, company, 90*time.Second)
	if len(agentPIDs(t)) != 1 {
		t.Errorf("agent processes of ferry: %v, want one", agentPIDs(t))
	}
	sh(t, script[0], "--purge")
	if n := len(agentPIDs(t)); n != 0 {
		t.Errorf("%d agent processes left after install.sh --purge", n)
	}
	checkRemoved(t, c, company, conn, "/usr/local/bin/ferry-agent")
}

// checkRemoved checks that the removal unlinked the connection and left
// no file of the agent and no user.
func checkRemoved(t *testing.T, c *coordinator, company, conn, bin string) {
	t.Helper()
	var cn struct{ Status string }
	if c.do("GET", "/companies/"+company+"/connections/"+conn, nil, &cn); cn.Status != "Deauthorized" {
		t.Errorf("connection after the agent's removal: %q, want Deauthorized", cn.Status)
	}
	left, _ := filepath.Glob("/etc/rc?.d/*ferry-agent")
	for _, p := range append(left, bin, "/etc/ferry", "/etc/init.d/ferry-agent", "/var/log/ferry-agent.log", "/run/ferry-agent.pid") {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is left after purge", p)
		}
	}
	if _, err := user.Lookup("ferry"); err == nil {
		t.Error("the user ferry is left after purge")
	}
	if _, err := user.LookupGroup("ferry"); err == nil {
		t.Error("the group ferry is left after purge")
	}
}

// needRootWithoutSystemd skips unless the test may install packages here:
// root, no systemd, ferry-agent not already installed. In CI it must run.
//
// It also holds systemService for the rest of the test: the tests that
// touch the machine's one service run in parallel with the others but one
// at a time, and the check that no ferry-agent is installed must not see
// another such test's.
func needRootWithoutSystemd(t *testing.T) {
	t.Helper()
	lockSystemService(t)
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here; this test covers the SysV service")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("no dpkg on this system")
	}
	why := ""
	switch {
	case testing.Short():
		t.Skip("builds and installs a .deb; skipped with -short")
	case os.Geteuid() != 0:
		why = "installs a .deb system-wide: needs root"
	case exec.Command("dpkg-query", "-W", "ferry-agent").Run() == nil:
		why = "ferry-agent is already installed on this machine; not touching it"
	}
	if why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run this test: %s", why)
		}
		t.Skip(why)
	}
}

// downloadFromLinkPage fetches the .deb the link page offers for this
// machine, as an end user would.
func downloadFromLinkPage(t *testing.T, c *coordinator, company, conn string) string {
	t.Helper()
	var cn struct{ LinkURL string }
	if s := c.do("GET", "/companies/"+company+"/connections/"+conn, nil, &cn); s != 200 {
		t.Fatalf("GET the connection: %d", s)
	}
	resp, err := http.Get(cn.LinkURL) // with its token: the URL the client hands out
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`href="([^"]+_` + runtime.GOARCH + `\.deb)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("the link page offers no .deb for %s:\n%s", runtime.GOARCH, body)
	}
	resp, err = http.Get(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", m[1], resp.Status)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(string(m[1])))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	return path
}

// buildDeb runs installer/build.sh (what make installers runs) for this
// machine's architecture, without the MSI, and returns its output folder.
func buildDeb(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("bash", "../installer/build.sh")
	cmd.Env = append(os.Environ(), "OUT="+out, "ARCHES="+runtime.GOARCH, "NO_MSI=1", "VERSION=1.0.0-e2e")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installer/build.sh: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "*_"+runtime.GOARCH+".deb"))
	if len(debs) != 1 {
		t.Fatalf("built %v, want one .deb", debs)
	}
	return out
}

// readableBook copies the sample CSV book where the user ferry can read it.
func readableBook(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ferry-e2e-book-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(sampleCSV, "*.csv"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// checkOwned checks that path belongs to owner and has exactly mode.
func checkOwned(t *testing.T, path, owner string, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(owner)
	if err != nil {
		t.Fatal(err)
	}
	if uid := strconv.Itoa(int(st.Sys().(*syscall.Stat_t).Uid)); uid != u.Uid || st.Mode().Perm() != mode {
		t.Errorf("%s: owner %s mode %v, want %s (%s) and %v", path, uid, st.Mode().Perm(), owner, u.Uid, mode)
	}
}

// agentPIDs are the live `ferry-agent run --service` processes (the
// agent, not its supervisor) of the user ferry.
func agentPIDs(t *testing.T) []int {
	t.Helper()
	u, err := user.Lookup("ferry")
	if err != nil {
		return nil
	}
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(d + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) < 3 || filepath.Base(args[0]) != "ferry-agent" || args[1] != "run" || args[2] != "--service" {
			continue
		}
		st, err := os.Stat(d)
		if err != nil || strconv.Itoa(int(st.Sys().(*syscall.Stat_t).Uid)) != u.Uid {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		pids = append(pids, pid)
	}
	return pids
}

// systemService serialises the tests that install, run and remove the
// machine's one ferry-agent service (and its user ferry); each of them
// still runs beside the other tests.
var systemService sync.Mutex

// lockSystemService holds systemService until the test and its cleanups
// (which remove what it installed) have ended.
func lockSystemService(t *testing.T) {
	systemService.Lock()
	t.Cleanup(systemService.Unlock)
}
