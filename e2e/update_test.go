package e2e

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/chromedp/chromedp"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// The agent's self-update with the real binaries (#16). The releases are
// made once for the test binary (updateFixture) and shared; each scenario
// runs its own coordinator, in parallel with the others.

// updateReleases is the fixture of every update test, made on first use.
var updateReleases = &lazyReleases{}

// The versions of the fixture's releases.
const (
	// v100 is what the agents run at first; v110 the good release.
	v100, v110 = "1.0.0", "1.1.0"
	// vCannotStart is 1.1.0's linux-arm64 binary labelled linux-amd64,
	// signed with the same key: verified, but it cannot run here.
	vCannotStart = "1.2.0"
	// vUnhealthy starts, but its hello offers a protocol version the
	// coordinator refuses (agent/worker's protocolVersions hook), so it
	// never connects.
	vUnhealthy = "1.3.0"
)

// updateFixture holds the releases, each a folder of what make release
// writes (the archives, release.json, release.json.sig), and the
// substitute folders a compromised download path serves instead of
// 1.1.0's files.
type updateFixture struct {
	// rootPub is the test root's public key, compiled into every agent.
	rootPub string
	// releases are the release folders by version.
	releases map[string]string
	// substitutes are folders of files served in place of 1.1.0's: by
	// the reason the agent must refuse them with.
	substitutes map[string]string
}

// lazyReleases builds the fixture once for every test that asks.
type lazyReleases struct {
	once sync.Once
	fx   *updateFixture
	err  error
}

// get makes the releases unless done; it fails the test if that failed.
func (l *lazyReleases) get(t *testing.T) *updateFixture {
	t.Helper()
	l.once.Do(func() {
		start := time.Now()
		l.fx, l.err = makeUpdateFixture(filepath.Join(filepath.Dir(binDir), "update"))
		t.Logf("made the update releases in %s", time.Since(start).Round(time.Second))
	})
	if l.err != nil {
		t.Fatalf("make the update releases: %v", l.err)
	}
	return l.fx
}

// makeUpdateFixture makes, in dir (removed by TestMain with the builds):
// make release VERSION=1.0.0 (linux-amd64) and VERSION=1.1.0
// (linux-amd64, linux-arm64) in the same keys folder, as a release
// manager would; then, with the release tool and the same keys, the
// cannot-start and unhealthy releases, and the substitutes: 1.1.0 with a
// byte of its archive changed, 1.1.0 signed by a key of another root,
// 1.1.0 signed by a revoked key (the release carries the root's list
// revoking it).
func makeUpdateFixture(dir string) (*updateFixture, error) {
	keys, dist := filepath.Join(dir, "keys"), filepath.Join(dir, "dist")
	fx := &updateFixture{releases: map[string]string{}, substitutes: map[string]string{}}
	repo, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	run := func(env []string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = repo, append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	// 1.0.0 makes the keys; the other builds then run side by side.
	fx.releases[v100] = filepath.Join(dist, "releases", v100)
	if err := run([]string{"PLATFORMS=linux-amd64"}, "make", "release", "VERSION="+v100, "OUT="+dist, "RELEASE_KEYS="+keys); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(filepath.Join(keys, "root.pub"))
	if err != nil {
		return nil, err
	}
	fx.rootPub = strings.TrimSpace(string(pub))
	tool := filepath.Join(dir, "release")
	// Starts but never healthy: built as installer/release.sh builds the
	// agent, with the protocol versions of its hello changed.
	unhealthy := filepath.Join(dir, "bin", vUnhealthy, "ferry-agent")
	ldflags := "-s -w -X main.version=" + vUnhealthy + " -X main.commit=e2e -X main.date=2026-01-01T00:00:00Z" +
		" -X github.com/ferry-sync/ferry/shared/release.roots=" + fx.rootPub +
		" -X github.com/ferry-sync/ferry/agent/worker.protocolVersions=99"
	fx.releases[v110] = filepath.Join(dist, "releases", v110)
	builds := []func() error{
		func() error {
			return run([]string{"PLATFORMS=linux-amd64 linux-arm64"}, "make", "release", "VERSION="+v110, "OUT="+dist, "RELEASE_KEYS="+keys)
		},
		func() error { return run(nil, "go", "build", "-o", tool, "./installer/release") },
		func() error {
			return run([]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}, "go", "build", "-trimpath", "-ldflags", ldflags,
				"-o", unhealthy, "./agent/cmd/ferry-agent")
		},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pack := func(version, out, keyDir string, extra []string, platformBins ...string) error {
		args := append([]string{"pack", "-version", version, "-out", out, "-key", filepath.Join(keyDir, "signing.key"),
			"-cert", filepath.Join(keyDir, "signing.cert")}, extra...)
		return run(nil, tool, append(args, platformBins...)...)
	}
	bin := func(version, platform string) (string, error) {
		into := filepath.Join(dir, "bin", version+"-"+platform)
		if err := os.MkdirAll(into, 0o755); err != nil {
			return "", err
		}
		archive := filepath.Join(fx.releases[version], "ferry-agent-"+version+"-"+platform+".tar.gz")
		if err := run(nil, "tar", "-C", into, "--strip-components=1", "-xzf", archive); err != nil {
			return "", err
		}
		return filepath.Join(into, "ferry-agent"), nil
	}

	// Cannot start here: the arm64 build, labelled amd64, properly signed.
	arm, err := bin(v110, "linux-arm64")
	if err != nil {
		return nil, err
	}
	fx.releases[vCannotStart] = filepath.Join(dir, "releases", vCannotStart)
	if err := pack(vCannotStart, fx.releases[vCannotStart], keys, nil, "linux-amd64="+arm); err != nil {
		return nil, err
	}

	fx.releases[vUnhealthy] = filepath.Join(dir, "releases", vUnhealthy)
	if err := pack(vUnhealthy, fx.releases[vUnhealthy], keys, nil, "linux-amd64="+unhealthy); err != nil {
		return nil, err
	}

	// The substitutes for 1.1.0's files.
	amd, err := bin(v110, "linux-amd64")
	if err != nil {
		return nil, err
	}
	sub := func(reason string) string {
		fx.substitutes[reason] = filepath.Join(dir, "substitutes", reason)
		return fx.substitutes[reason]
	}
	// tampered: the signed manifest, an archive of the same size with one
	// byte changed.
	tampered := sub("tampered")
	if err := os.MkdirAll(tampered, 0o755); err != nil {
		return nil, err
	}
	name := "ferry-agent-" + v110 + "-linux-amd64.tar.gz"
	b, err := os.ReadFile(filepath.Join(fx.releases[v110], name))
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(tampered, name), b, 0o644); err != nil {
		return nil, err
	}
	// unknownKey: signed by the signing key of a root no agent trusts.
	other := filepath.Join(dir, "other-keys")
	if err := run(nil, tool, "keys", "-dir", other); err != nil {
		return nil, err
	}
	if err := pack(v110, sub("unknownKey"), other, nil, "linux-amd64="+amd); err != nil {
		return nil, err
	}
	// revoked: signed by the key the root has revoked, whose list the
	// release carries (kept out of the keys folder, which make release
	// would ship it from).
	key, err := release.ParsePrivateKey([]byte(mustRead(filepath.Join(keys, "signing.key"))))
	if err != nil {
		return nil, err
	}
	revocations := filepath.Join(dir, "revocations.json")
	if err := run(nil, tool, "revoke", "-root-key", filepath.Join(keys, "root.key"), "-list", revocations,
		release.KeyID(key.Public().(ed25519.PublicKey))); err != nil {
		return nil, err
	}
	if err := pack(v110, sub("revoked"), keys, []string{"-revocations", revocations}, "linux-amd64="+amd); err != nil {
		return nil, err
	}
	return fx, nil
}

// mustRead is a file's content, "" when unreadable (the caller's parse
// fails then).
func mustRead(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// downloads is a coordinator's --downloads folder holding the fixture's
// releases of versions.
func (fx *updateFixture) downloads(t *testing.T, versions ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, v := range versions {
		into := filepath.Join(dir, "releases", v)
		if err := os.MkdirAll(into, 0o755); err != nil {
			t.Fatal(err)
		}
		files, _ := os.ReadDir(fx.releases[v])
		for _, f := range files {
			if err := os.Link(filepath.Join(fx.releases[v], f.Name()), filepath.Join(into, f.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// startUpdateCoordinator runs a coordinator offering the fixture's
// releases of versions, trusting the test root, delivering webhooks to
// loopback, with extra flags.
func startUpdateCoordinator(t *testing.T, fx *updateFixture, versions []string, extra ...string) *coordinator {
	t.Helper()
	args := append([]string{"--downloads", fx.downloads(t, versions...), "--release-roots", fx.rootPub, "--webhook-allow-private"}, extra...)
	return startCoordinator(t, t.TempDir(), freeAddr(t), args...)
}

// updateHooks subscribes a receiver to the update webhook events.
func updateHooks(t *testing.T, c *coordinator) *hookReceiver {
	t.Helper()
	rcv := newHookReceiver(t)
	var h struct{ ID, Secret string }
	body := map[string]any{"url": rcv.URL + "/ferry", "eventTypes": []string{
		"agent.update.started", "agent.update.succeeded", "agent.update.failed", "agent.update.rolledBack"}}
	if s := c.do("POST", "/webhooks", body, &h); s != 201 {
		t.Fatalf("create the update webhook: %d %+v", s, h)
	}
	return rcv
}

// updateHook is an agent.update.* delivery's payload.
type updateHook struct {
	EventType string
	AgentID   string `json:"agentId"`
	Update    struct {
		Version, From, Status, Step, Reason string
	}
}

// updateDeliveries are the receiver's agent.update.* deliveries, in the
// order they arrived.
func updateDeliveries(t *testing.T, rcv *hookReceiver) []updateHook {
	t.Helper()
	var out []updateHook
	for _, d := range rcv.deliveries() {
		var h updateHook
		if err := json.Unmarshal(d.env.Payload, &h); err != nil {
			t.Fatalf("%s payload %s: %v", d.env.EventType, d.env.Payload, err)
		}
		h.EventType = d.env.EventType
		out = append(out, h)
	}
	return out
}

// hasHook reports whether a delivery of typ for agent, about version,
// arrived.
func hasHook(hooks []updateHook, typ, agent, version string) (updateHook, bool) {
	for _, h := range hooks {
		if h.EventType == typ && h.AgentID == agent && h.Update.Version == version {
			return h, true
		}
	}
	return updateHook{}, false
}

// selfUpdating is an agent installed in the self-update layout, with its
// config, run by `run --respawn`.
type selfUpdating struct {
	t       *testing.T
	c       *coordinator
	root    string // the layout: root/versions/X.Y.Z/ferry-agent, root/ferry-agent the link
	config  string
	company string
	id      string
	out     *syncBuffer
}

// installLayout lays version's linux-amd64 archive out in a new root as
// install.sh does: the version's folder under versions/, and the link
// ferry-agent to its binary, which the service (here `run --respawn`)
// runs.
func installLayout(t *testing.T, fx *updateFixture, version string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "versions", version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sh(t, "tar", "-C", dir, "--strip-components=1", "-xzf",
		filepath.Join(fx.releases[version], "ferry-agent-"+version+"-linux-amd64.tar.gz"))
	if err := os.Symlink(filepath.Join("versions", version, "ferry-agent"), filepath.Join(root, "ferry-agent")); err != nil {
		t.Fatal(err)
	}
	return root
}

// startSelfUpdating installs version 1.0.0, links it to a new company's
// csv connection on c through url (the coordinator's, or a proxy's), and
// runs it under `run --respawn` until the test ends; it returns once
// the agent is online and its first syncs are Complete.
func startSelfUpdating(t *testing.T, fx *updateFixture, c *coordinator, url string) *selfUpdating {
	t.Helper()
	a := &selfUpdating{t: t, c: c, root: installLayout(t, fx, v100), out: &syncBuffer{}}
	var code string
	a.company, _, code = setupConnection(t, c, "csv")
	a.config = filepath.Join(t.TempDir(), "agent.json")
	if out, err := exec.Command(a.link(), "link", "--config", a.config, "--coordinator", url, "--code", code,
		"--source", "csv", "--path", sampleCSV).CombinedOutput(); err != nil {
		t.Fatalf("ferry-agent link: %v\n%s", err, out)
	}
	cmd := exec.Command(a.link(), "run", "--respawn", "--config", a.config, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = a.out, a.out
	// Its own process group: the supervisor and the agent it runs end
	// together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("agent %s (%s) output:\n%s", a.id, a.root, a.out.String())
		}
	})
	a.id = waitAgentOf(t, c, a.company)
	// The first syncs end first: an agent with a dataset in hand answers
	// an update busy, and the rollout asks again only 30 s later.
	waitAllComplete(t, c, a.company, 90*time.Second)
	return a
}

// link is the path the service runs.
func (a *selfUpdating) link() string { return filepath.Join(a.root, "ferry-agent") }

// runs is the version the link points at, as its binary says.
func (a *selfUpdating) runs() string {
	a.t.Helper()
	return binaryVersion(a.t, a.link())
}

// binaryVersion is the version `ferry-agent version` of bin prints.
func binaryVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("%s version printed %q", bin, out)
	}
	return f[1]
}

// linkTarget is where the layout's link points, relative to the root.
func (a *selfUpdating) linkTarget() string {
	a.t.Helper()
	target, err := os.Readlink(a.link())
	if err != nil {
		a.t.Fatal(err)
	}
	return target
}

// agentResource is GET /agents/{id} with the update fields.
type agentResource struct {
	ID           string
	AgentVersion string
	Status       string
	Connections  []struct{ CompanyID string }
	Update       *struct {
		Version, Status, Step, Reason string
	}
}

func getAgent(t *testing.T, c *coordinator, id string) agentResource {
	t.Helper()
	var a agentResource
	if s := c.do("GET", "/agents/"+id, nil, &a); s != 200 {
		t.Fatalf("GET /agents/%s: %d", id, s)
	}
	return a
}

// waitAgentOf waits for the agent serving company to be online and
// returns its id.
func waitAgentOf(t *testing.T, c *coordinator, company string) string {
	t.Helper()
	var id string
	waitFor(t, 60*time.Second, "the agent of company "+company+" online", func() bool {
		var list struct{ Results []agentResource }
		if s := c.do("GET", "/agents", nil, &list); s != 200 {
			t.Fatalf("GET /agents: %d", s)
		}
		for _, a := range list.Results {
			if a.Status == "Online" && slices.ContainsFunc(a.Connections, func(cn struct{ CompanyID string }) bool { return cn.CompanyID == company }) {
				id = a.ID
				return true
			}
		}
		return false
	})
	return id
}

// waitVersion waits for the agent to be online running version.
func waitVersion(t *testing.T, c *coordinator, id, version string, within time.Duration) {
	t.Helper()
	var a agentResource
	waitFor(t, within, "agent "+id+" online at "+version, func() bool {
		a = getAgent(t, c, id)
		return a.Status == "Online" && a.AgentVersion == version
	})
}

// agentEventView is one of GET /agents/{id}/events.
type agentEventView struct {
	Type, At, Reason, Detail string
}

func agentEvents(t *testing.T, c *coordinator, id string) []agentEventView {
	t.Helper()
	var page struct{ Results []agentEventView }
	if s := c.do("GET", "/agents/"+id+"/events?limit=200", nil, &page); s != 200 {
		t.Fatalf("GET /agents/%s/events: %d", id, s)
	}
	return page.Results
}

// eventOf is the agent's newest event of typ.
func eventOf(t *testing.T, c *coordinator, id, typ string) (agentEventView, bool) {
	t.Helper()
	for _, e := range agentEvents(t, c, id) {
		if e.Type == typ {
			return e, true
		}
	}
	return agentEventView{}, false
}

// waitEvent waits for the agent's event of typ.
func waitEvent(t *testing.T, c *coordinator, id, typ string, within time.Duration) agentEventView {
	t.Helper()
	var e agentEventView
	waitFor(t, within, "agent "+id+" event "+typ, func() bool {
		var ok bool
		e, ok = eventOf(t, c, id, typ)
		return ok
	})
	return e
}

// rolloutView is GET /agentReleases/{version}/rollout.
type rolloutView struct {
	Version, Status, HaltReason        string
	Updated, Failed, Pending, InFlight int
	Canaries                           []struct{ AgentID, Status, Reason string }
}

// startRollout starts a rollout of version and returns it.
func startRollout(t *testing.T, c *coordinator, version string, canaries, maxInFlight int, halt bool) rolloutView {
	t.Helper()
	var r rolloutView
	body := map[string]any{"canaryCount": canaries, "maxInFlight": maxInFlight, "haltOnFailure": halt}
	if s := c.do("POST", "/agentReleases/"+version+"/rollout", body, &r); s != 201 {
		t.Fatalf("POST /agentReleases/%s/rollout: %d %+v", version, s, r)
	}
	return r
}

// waitRollout waits for the rollout of version to reach status.
func waitRollout(t *testing.T, c *coordinator, version, status string, within time.Duration) rolloutView {
	t.Helper()
	var r rolloutView
	waitFor(t, within, "rollout of "+version+" "+status, func() bool {
		r = rolloutView{}
		if s := c.do("GET", "/agentReleases/"+version+"/rollout", nil, &r); s != 200 {
			t.Fatalf("GET /agentReleases/%s/rollout: %d", version, s)
		}
		return r.Status == status
	})
	return r
}

// syncsAgain waits for company's syncs to end, queues invoices and waits
// for Complete: the agent serving it works.
func syncsAgain(t *testing.T, c *coordinator, company, why string) {
	t.Helper()
	waitAllComplete(t, c, company, 90*time.Second)
	var op struct{ ID string }
	if s := c.do("POST", "/companies/"+company+"/data/queue/invoices", nil, &op); s != 200 {
		t.Fatalf("queue invoices %s: %d", why, s)
	}
	waitDataset(t, c, company, op.ID, 90*time.Second, "invoices Complete "+why, func(d datasetView) bool { return d.Status == "Complete" })
}

// TestAgentRollout: agents of 1.0.0, one the SysV service installed
// from the release's tarball, two under `run --respawn` in the
// self-update layout; a rollout of 1.1.0 (made by make release with the
// same keys) with one canary. The canary updates first (every other
// agent's UpdateStarted comes after its UpdateSucceeded), then the rest;
// every agent reports 1.1.0, its link runs 1.1.0, and it syncs again;
// the rollout is Complete with 3 updated; the agent events and the
// webhooks record each agent's UpdateStarted and UpdateSucceeded.
func TestAgentRollout(t *testing.T) {
	parallel(t)
	needRootWithoutSystemd(t)
	fx := updateReleases.get(t)
	c := startUpdateCoordinator(t, fx, []string{v100, v110})
	rcv := updateHooks(t, c)

	// The SysV service, installed by the tarball's install.sh.
	dir := t.TempDir()
	sh(t, "tar", "-C", dir, "-xzf", filepath.Join(fx.releases[v100], "ferry-agent-"+v100+"-linux-amd64.tar.gz"))
	script, _ := filepath.Glob(filepath.Join(dir, "*", "install.sh"))
	if len(script) != 1 {
		t.Fatalf("install.sh in the tarball: %v", script)
	}
	t.Cleanup(func() { _ = exec.Command(script[0], "--purge").Run() })
	sh(t, script[0])
	serviceBin, err := exec.LookPath("ferry-agent")
	if err != nil {
		t.Fatalf("install.sh put no ferry-agent on the PATH: %v", err)
	}
	serviceCompany, _, code := setupConnection(t, c, "csv")
	sh(t, serviceBin, "link", "--coordinator", c.url(), "--code", code, "--source", "csv", "--path", readableBook(t))
	service := waitAgentOf(t, c, serviceCompany)
	if v := binaryVersion(t, serviceBin); v != v100 {
		t.Fatalf("the installed service runs %s, want %s", v, v100)
	}

	respawned := []*selfUpdating{startSelfUpdating(t, fx, c, c.url()), startSelfUpdating(t, fx, c, c.url())}
	ids := []string{service}
	companies := map[string]string{service: serviceCompany}
	for _, a := range respawned {
		ids = append(ids, a.id)
		companies[a.id] = a.company
	}
	waitAllComplete(t, c, serviceCompany, 90*time.Second)

	r := startRollout(t, c, v110, 1, 5, true)
	if len(r.Canaries) != 1 {
		t.Fatalf("rollout canaries %+v, want one", r.Canaries)
	}
	canary := r.Canaries[0].AgentID
	if !slices.Contains(ids, canary) {
		t.Fatalf("canary %s is none of the agents %v", canary, ids)
	}
	// While the canary has not succeeded, no other agent starts.
	waitFor(t, 3*time.Minute, "the canary's UpdateSucceeded", func() bool {
		for _, id := range ids {
			if _, ok := eventOf(t, c, id, protocol.UpdateStarted); ok && id != canary {
				if _, done := eventOf(t, c, canary, protocol.UpdateSucceeded); !done {
					t.Fatalf("agent %s started its update before the canary %s succeeded", id, canary)
				}
			}
		}
		_, ok := eventOf(t, c, canary, protocol.UpdateSucceeded)
		return ok
	})
	r = waitRollout(t, c, v110, "Complete", 4*time.Minute)
	if r.Updated != 3 || r.Failed != 0 {
		t.Errorf("rollout Complete with %d updated, %d failed; want 3 and 0", r.Updated, r.Failed)
	}
	succeeded, _ := eventOf(t, c, canary, protocol.UpdateSucceeded)
	for _, id := range ids {
		waitVersion(t, c, id, v110, time.Minute)
		started := waitEvent(t, c, id, protocol.UpdateStarted, time.Minute)
		waitEvent(t, c, id, protocol.UpdateSucceeded, time.Minute)
		if id != canary && started.At < succeeded.At {
			t.Errorf("agent %s started at %s, before the canary succeeded at %s", id, started.At, succeeded.At)
		}
		if a := getAgent(t, c, id); a.Update == nil || a.Update.Version != v110 || a.Update.Status != "Updated" {
			t.Errorf("agent %s update %+v, want %s Updated", id, a.Update, v110)
		}
	}
	for _, a := range respawned {
		if v := a.runs(); v != v110 {
			t.Errorf("agent %s: its link runs %s, want %s", a.id, v, v110)
		}
	}
	if v := binaryVersion(t, serviceBin); v != v110 {
		t.Errorf("the service's %s runs %s, want %s", serviceBin, v, v110)
	}
	// Every agent keeps syncing.
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); syncsAgain(t, c, companies[id], "after the update") }()
	}
	wg.Wait()
	waitFor(t, time.Minute, "the webhooks of every agent's update", func() bool {
		hooks := updateDeliveries(t, rcv)
		for _, id := range ids {
			for _, typ := range []string{"agent.update.started", "agent.update.succeeded"} {
				if _, ok := hasHook(hooks, typ, id, v110); !ok {
					return false
				}
			}
		}
		return true
	})
}

// TestAgentRolloutCannotStart: a release whose binary cannot run here
// (arm64, labelled amd64 and properly signed). The canary's self-test
// fails: UpdateFailed at step selftest, nothing swapped (its link still
// runs 1.0.0), it syncs on; the rollout halts after the canary, and the
// other agent is never told to update.
func TestAgentRolloutCannotStart(t *testing.T) {
	parallel(t)
	fx := updateReleases.get(t)
	c := startUpdateCoordinator(t, fx, []string{vCannotStart})
	rcv := updateHooks(t, c)
	agents := []*selfUpdating{startSelfUpdating(t, fx, c, c.url()), startSelfUpdating(t, fx, c, c.url())}

	r := startRollout(t, c, vCannotStart, 1, 5, true)
	if len(r.Canaries) != 1 {
		t.Fatalf("rollout canaries %+v, want one", r.Canaries)
	}
	canary, other := agents[0], agents[1]
	if r.Canaries[0].AgentID == other.id {
		canary, other = other, canary
	}
	r = waitRollout(t, c, vCannotStart, "Halted", 3*time.Minute)
	if r.Failed != 1 || r.Updated != 0 || len(r.Canaries) != 1 || r.Canaries[0].Status != "Failed" {
		t.Errorf("halted rollout %+v, want the canary Failed, 1 failed, 0 updated", r)
	}
	failed := waitEvent(t, c, canary.id, protocol.UpdateFailed, time.Minute)
	if failed.Detail == "" && failed.Reason == "" {
		t.Errorf("UpdateFailed event %+v without a reason", failed)
	}
	if a := getAgent(t, c, canary.id); a.Update == nil || a.Update.Status != "Failed" || a.Update.Step != protocol.StepSelfTest {
		t.Errorf("canary's update %+v, want Failed at step %s", a.Update, protocol.StepSelfTest)
	}
	if _, ok := eventOf(t, c, canary.id, protocol.UpdateSucceeded); ok {
		t.Error("the canary reported UpdateSucceeded")
	}
	if got, want := canary.linkTarget(), filepath.Join("versions", v100, "ferry-agent"); got != want {
		t.Errorf("the canary's link points at %s, want %s (nothing swapped)", got, want)
	}
	if v := canary.runs(); v != v100 {
		t.Errorf("the canary's link runs %s, want %s", v, v100)
	}
	waitVersion(t, c, canary.id, v100, time.Minute)
	syncsAgain(t, c, canary.company, "after the failed update")
	waitFor(t, time.Minute, "the agent.update.failed webhook", func() bool {
		h, ok := hasHook(updateDeliveries(t, rcv), "agent.update.failed", canary.id, vCannotStart)
		return ok && h.Update.Step == protocol.StepSelfTest
	})
	// The other agent was never told.
	if _, ok := eventOf(t, c, other.id, protocol.UpdateStarted); ok {
		t.Errorf("agent %s started the update of a halted rollout", other.id)
	}
	if a := getAgent(t, c, other.id); a.AgentVersion != v100 {
		t.Errorf("the other agent runs %s, want %s", a.AgentVersion, v100)
	}
	portalShowsHaltedRollout(t, c, vCannotStart, canary.id)
}

// portalShowsHaltedRollout signs in to the Portal in a real (headless)
// chromium, follows the releases page's link to version's rollout and
// reads it: Halted, the canary agent Failed, with the reason.
func portalShowsHaltedRollout(t *testing.T, c *coordinator, version, canary string) {
	t.Helper()
	tab := browserTab(t, 2*time.Minute)
	err := chromedp.Do(tab,
		chromedp.Navigate(c.url()+"/"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), e2eKey),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
		chromedp.Navigate(c.url()+"/portal/releases"),
		chromedp.Click(chromedp.CSS(`#release-`+strings.ReplaceAll(version, ".", `\.`)+` td.rollout a`)),
		chromedp.WaitVisible(chromedp.ID("rollout-status")),
	)
	if err != nil {
		t.Fatalf("the Portal's rollout page: %v", err)
	}
	status, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("rollout-status")))
	if err != nil {
		t.Fatalf("the rollout's status: %v", err)
	}
	row, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#rollout-agents tr[data-status="Failed"]`)))
	if err != nil {
		t.Fatalf("the rollout's failed agent: %v", err)
	}
	if !strings.Contains(status, "Halted") || !strings.Contains(row, canary) || !strings.Contains(row, "canary") || !strings.Contains(row, "selftest") {
		t.Errorf("the Portal shows the rollout %q, the failed row %q: want Halted, the canary %s failed at selftest", status, row, canary)
	}
}

// TestAgentRolloutRollsBackUnhealthy: a release that starts but cannot
// become healthy (its hello offers protocol version 99, which the
// coordinator refuses). The canary swaps it in, the new version runs and
// is refused, and within the deadline (--update-health 5s) the old
// version is put back by itself: UpdateRolledBack at step health, the
// link at 1.0.0 again, the agent online at 1.0.0 and syncing; the
// rollout halts, the other agent untouched.
func TestAgentRolloutRollsBackUnhealthy(t *testing.T) {
	parallel(t)
	fx := updateReleases.get(t)
	c := startUpdateCoordinator(t, fx, []string{vUnhealthy}, "--update-health", "5s")
	rcv := updateHooks(t, c)
	agents := []*selfUpdating{startSelfUpdating(t, fx, c, c.url()), startSelfUpdating(t, fx, c, c.url())}

	r := startRollout(t, c, vUnhealthy, 1, 5, true)
	if len(r.Canaries) != 1 {
		t.Fatalf("rollout canaries %+v, want one", r.Canaries)
	}
	canary, other := agents[0], agents[1]
	if r.Canaries[0].AgentID == other.id {
		canary, other = other, canary
	}
	rolled := waitEvent(t, c, canary.id, protocol.UpdateRolledBack, 3*time.Minute)
	if rolled.Detail == "" && rolled.Reason == "" {
		t.Errorf("UpdateRolledBack event %+v without a reason", rolled)
	}
	// It was swapped in and ran: the new version's hello was refused.
	if out := canary.out.String(); !strings.Contains(out, string(protocol.CodeVersion)) {
		t.Errorf("the canary's output shows no refused hello (%s) of the new version", protocol.CodeVersion)
	}
	if _, err := os.Stat(filepath.Join(canary.root, "versions", vUnhealthy, "ferry-agent")); err != nil {
		t.Errorf("the new version was not unpacked beside the old: %v", err)
	}
	if got, want := canary.linkTarget(), filepath.Join("versions", v100, "ferry-agent"); got != want {
		t.Errorf("the canary's link points at %s after the rollback, want %s", got, want)
	}
	waitVersion(t, c, canary.id, v100, time.Minute)
	if a := getAgent(t, c, canary.id); a.Update == nil || a.Update.Status != "RolledBack" || a.Update.Step != protocol.StepHealth {
		t.Errorf("canary's update %+v, want RolledBack at step %s", a.Update, protocol.StepHealth)
	}
	syncsAgain(t, c, canary.company, "after the rollback")
	r = waitRollout(t, c, vUnhealthy, "Halted", time.Minute)
	if r.Failed != 1 || r.Updated != 0 {
		t.Errorf("halted rollout %+v, want 1 failed, 0 updated", r)
	}
	waitFor(t, time.Minute, "the agent.update.rolledBack webhook", func() bool {
		_, ok := hasHook(updateDeliveries(t, rcv), "agent.update.rolledBack", canary.id, vUnhealthy)
		return ok
	})
	if _, ok := eventOf(t, c, other.id, protocol.UpdateStarted); ok {
		t.Errorf("agent %s started the update of a halted rollout", other.id)
	}
}

// TestAgentUpdateRefusals: a rollout of 1.1.0 to four agents, each
// connected through a compromised path (a mirror) that serves other
// files than the coordinator verified: an archive with a byte changed, a
// manifest signed by a key of an unknown root, one signed by a revoked
// key; or that turns the update into one to 0.9.0, a downgrade. Each
// agent refuses before anything is swapped: an UpdateFailed event and
// webhook whose reason begins with release.Reason's word (at step verify;
// the downgrade, refused with the update message, before it downloads
// anything: "refused: downgrade: …"), its link still at 1.0.0, online at
// 1.0.0 and syncing.
func TestAgentUpdateRefusals(t *testing.T) {
	parallel(t)
	fx := updateReleases.get(t)
	c := startUpdateCoordinator(t, fx, []string{v110})
	rcv := updateHooks(t, c)
	reasons := []string{"tampered", "unknownKey", "revoked", "downgrade"}
	agents, mirrors := map[string]*selfUpdating{}, map[string]*mirror{}
	for _, reason := range reasons {
		var rewrite func(*protocol.Message)
		if reason == "downgrade" {
			rewrite = func(m *protocol.Message) { m.Update.Version = "0.9.0" }
		}
		mirrors[reason] = startMirror(t, c, v110, fx.substitutes[reason], rewrite)
		agents[reason] = startSelfUpdating(t, fx, c, mirrors[reason].url)
	}
	r := startRollout(t, c, v110, len(reasons), len(reasons), false)
	if len(r.Canaries) != len(reasons) {
		t.Fatalf("rollout canaries %+v, want %d", r.Canaries, len(reasons))
	}
	for _, reason := range reasons {
		t.Run(reason, func(t *testing.T) {
			a := agents[reason]
			// A refusal of the update message itself is recorded with
			// "refused: " before the agent's reason (docs/api.md).
			failed := waitEvent(t, c, a.id, protocol.UpdateFailed, 3*time.Minute)
			if !strings.HasPrefix(strings.TrimPrefix(failed.Detail, "refused: "), reason) {
				t.Errorf("UpdateFailed event %+v, want its detail to begin with %q", failed, reason)
			}
			var h updateHook
			waitFor(t, time.Minute, "the agent.update.failed webhook", func() bool {
				var ok bool
				h, ok = hasHook(updateDeliveries(t, rcv), "agent.update.failed", a.id, v110)
				return ok
			})
			if !strings.HasPrefix(strings.TrimPrefix(h.Update.Reason, "refused: "), reason) {
				t.Errorf("agent.update.failed %+v, want a reason beginning with %q", h.Update, reason)
			}
			if gets := mirrors[reason].releaseGets.Load(); reason == "downgrade" && gets != 0 {
				t.Errorf("the agent asked for %d release files of the downgrade it refuses", gets)
			} else if reason != "downgrade" && h.Update.Step != protocol.StepVerify {
				t.Errorf("agent.update.failed at step %q, want %s", h.Update.Step, protocol.StepVerify)
			}
			if got, want := a.linkTarget(), filepath.Join("versions", v100, "ferry-agent"); got != want {
				t.Errorf("the link points at %s, want %s (nothing swapped)", got, want)
			}
			if _, err := os.Stat(filepath.Join(a.root, "versions", v110)); err == nil {
				t.Errorf("the refused release was unpacked in %s", a.root)
			}
			if _, ok := eventOf(t, c, a.id, protocol.UpdateSucceeded); ok {
				t.Error("UpdateSucceeded reported")
			}
			waitVersion(t, c, a.id, v100, time.Minute)
			syncsAgain(t, c, a.company, "after the refused update")
		})
	}
}

// mirror is a reverse proxy to a coordinator (the control channel and
// the API pass through) that stands for a compromised path between the
// agent and it: it serves the files in substitute in place of version's
// release files of the same name, and passes each control message from
// the coordinator through rewrite (nil: as it is).
type mirror struct {
	url string
	// releaseGets counts the requests for version's release files.
	releaseGets atomic.Int64
}

func startMirror(t *testing.T, c *coordinator, version, substitute string, rewrite func(*protocol.Message)) *mirror {
	t.Helper()
	target, err := url.Parse(c.url())
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	prefix := protocol.ReleasePath(version, "")
	var relays sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
			m.releaseGets.Add(1)
			if path := filepath.Join(substitute, name); substitute != "" && !strings.ContainsAny(name, `/\`) && fileExists(path) {
				http.ServeFile(w, r, path)
				return
			}
		}
		if rewrite != nil && r.URL.Path == protocol.ConnectPath && websocket.IsWebSocketUpgrade(r) {
			relays.Add(1)
			defer relays.Done()
			relayControl(t, w, r, "ws://"+c.addr+protocol.ConnectPath, rewrite)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done; relays.Wait() })
	m.url = "http://" + ln.Addr().String()
	return m
}

// relayControl relays an agent's control channel to the coordinator at
// target, each coordinator message passed through rewrite, until either
// side ends.
func relayControl(t *testing.T, w http.ResponseWriter, r *http.Request, target string, rewrite func(*protocol.Message)) {
	back, resp, err := websocket.DefaultDialer.Dial(target, http.Header{"Authorization": r.Header["Authorization"]})
	if err != nil {
		status := http.StatusBadGateway
		if resp != nil {
			status = resp.StatusCode
		}
		http.Error(w, err.Error(), status)
		return
	}
	defer back.Close()
	front, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer front.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			kind, raw, err := front.ReadMessage()
			if err != nil || back.WriteMessage(kind, raw) != nil {
				back.Close()
				return
			}
		}
	}()
	for {
		kind, raw, err := back.ReadMessage()
		if err != nil {
			break
		}
		var msg protocol.Message
		if kind == websocket.TextMessage && json.Unmarshal(raw, &msg) == nil && msg.Type == protocol.TypeUpdate {
			rewrite(&msg)
			if raw, err = json.Marshal(msg); err != nil {
				t.Errorf("re-encode %s: %v", msg.Type, err)
				break
			}
		}
		if front.WriteMessage(kind, raw) != nil {
			break
		}
	}
	front.Close()
	<-done
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
