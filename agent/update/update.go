// Package update is the agent's self-update: told a version by the
// coordinator, the agent downloads the release over the data plane
// (resumably), verifies its signature, size and SHA-256 against the
// release roots compiled into it (shared/release), unpacks it beside the
// running version (Layout), runs the new binary's self-test, swaps it in
// and restarts; the new version must connect within the deadline, or it
// is swapped out again. Every step is an update status kept on disk
// (State) until the coordinator acknowledges it.
package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// Config is what an Updater runs with.
type Config struct {
	// Version is the running version.
	Version string
	// Coordinator is the base URL, Credential the agent's, HTTP the client
	// whose transport takes the agent's path (proxy, CA: agent/transport).
	Coordinator, Credential string
	HTTP                    *http.Client
	// ConfigPath is the agent's config, which the new binary's self-test
	// reads.
	ConfigPath string
	// State is the update's state folder; Layout where the versions live
	// (a FindLayout error in NoLayout: the agent refuses updates with it).
	State    *State
	Layout   Layout
	NoLayout error
	// Pending is the swap to this version still to become healthy
	// (Started's); nil: none.
	Pending *Pending
	// Roots are the trusted release roots (release.Roots()).
	Roots []ed25519.PublicKey
	// Platform is the release platform to install: runtime.GOOS-GOARCH.
	Platform string
	// SelfTestTimeout bounds the new binary's self-test (one minute).
	SelfTestTimeout time.Duration
	// Now is the clock (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Updater updates the agent it runs in.
type Updater struct {
	cfg Config
}

// New builds an updater.
func New(cfg Config) *Updater {
	if cfg.Platform == "" {
		cfg.Platform = Platform()
	}
	if cfg.SelfTestTimeout == 0 {
		cfg.SelfTestTimeout = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Updater{cfg: cfg}
}

// prepareTimeout bounds an update's download, unpacking and self-test.
const prepareTimeout = 30 * time.Minute

// Platform is this binary's release platform: "linux-amd64", …
func Platform() string { return runtime.GOOS + "-" + runtime.GOARCH }

// State is the updater's state folder.
func (u *Updater) State() *State { return u.cfg.State }

// Failure is why an update stopped before the swap: the step, and a
// reason that begins with release.Reason's word when a check refused it.
type Failure struct {
	Step, Reason string
}

func (f *Failure) Error() string { return f.Step + ": " + f.Reason }

// fail is the Failure of err at step.
func fail(step string, err error) *Failure {
	reason := err.Error()
	if word := release.Reason(err); word != "" {
		reason = word + ": " + reason
	}
	return &Failure{Step: step, Reason: reason}
}

// Check refuses, for good, an update to v: not newer than the running
// version (the error wraps release.ErrDowngrade), a version that was
// swapped in here and rolled back (it would be again: a newer release, or
// deleting update/rolledback.json, lets the agent try), or an agent that
// does not run from a self-update layout. The error begins with a word
// (downgrade, malformed, rolledBack, noLayout).
func (u *Updater) Check(v string) error {
	if err := release.CheckUpgrade(u.cfg.Version, v); err != nil {
		if release.Reason(err) != "" {
			return fmt.Errorf("%s: %w", release.Reason(err), err)
		}
		return fmt.Errorf("malformed: %w", err)
	}
	if u.cfg.NoLayout != nil {
		return fmt.Errorf("noLayout: %w", u.cfg.NoLayout)
	}
	rolled, err := u.cfg.State.RolledBack()
	if err != nil {
		return fmt.Errorf("malformed: the versions rolled back: %w", err)
	}
	if slices.Contains(rolled, v) {
		return fmt.Errorf("rolledBack: %s was swapped in on this machine and rolled back, as it did not become healthy", v)
	}
	return nil
}

// Able is nil when the agent can update itself, or why it cannot (it
// does not run from a self-update layout, nothing would start the new
// version, or the build trusts no release root). An agent that cannot
// does not list the update feature in its hello, so no rollout counts it
// and the coordinator says it needs installing anew.
func (u *Updater) Able() error { return u.cfg.NoLayout }

// Prepare makes version v ready to swap in: downloaded, verified,
// unpacked beside the running version and self-tested. It returns the
// new binary, or a *Failure.
func (u *Updater) Prepare(ctx context.Context, v string) (string, error) {
	// A download that stalls must not hold the agent off work for ever:
	// the update fails, and the coordinator asks again (it resumes).
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	dir := filepath.Join(u.cfg.State.Dir, "download", v)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fail(protocol.StepDownload, err)
	}
	a, err := u.download(ctx, v, dir)
	if err != nil {
		return "", err
	}
	bin, err := u.install(v, filepath.Join(dir, a.Name))
	if err != nil {
		return "", fail(protocol.StepUnpack, err)
	}
	if err := u.selfTest(ctx, bin); err != nil {
		return "", fail(protocol.StepSelfTest, err)
	}
	return bin, nil
}

// download fetches and verifies v's manifest, then fetches and verifies
// this platform's archive, into dir. The newest revocation list seen is
// kept even when the release is refused. A verification failure removes
// what was downloaded, so the next attempt starts afresh.
func (u *Updater) download(ctx context.Context, v, dir string) (release.Archive, error) {
	var none release.Archive
	manifest, sig := filepath.Join(dir, release.ManifestFile), filepath.Join(dir, release.SignatureFile)
	for _, name := range []string{release.ManifestFile, release.SignatureFile} {
		if err := u.fetch(ctx, v, name, filepath.Join(dir, name), maxSmallFile); err != nil {
			return none, fail(protocol.StepDownload, err)
		}
	}
	m, err := u.verifyManifest(v, manifest, sig)
	if err != nil {
		_ = os.RemoveAll(dir)
		return none, fail(protocol.StepVerify, err)
	}
	a, ok := m.Platforms[u.cfg.Platform]
	if !ok {
		return none, &Failure{Step: protocol.StepVerify, Reason: fmt.Sprintf("release %s has no archive for %s (it has %s)",
			v, u.cfg.Platform, strings.Join(m.PlatformNames(), ", "))}
	}
	path := filepath.Join(dir, a.Name)
	if err := u.fetch(ctx, v, a.Name, path, a.Size); err != nil {
		if errors.Is(err, errTooBig) {
			_ = os.RemoveAll(dir)
			return none, fail(protocol.StepVerify, fmt.Errorf("%v: %w", err, release.ErrTampered))
		}
		return none, fail(protocol.StepDownload, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return none, fail(protocol.StepDownload, err)
	}
	err = release.VerifyArchive(f, a)
	f.Close()
	if err != nil {
		_ = os.RemoveAll(dir)
		return none, fail(protocol.StepVerify, err)
	}
	return a, nil
}

// verifyManifest checks release.json of v with the kept revocation list,
// keeps the newest list seen, and refuses a release that is not v or not
// newer than the running version.
func (u *Updater) verifyManifest(v, manifestPath, sigPath string) (release.Manifest, error) {
	manifest, err := os.ReadFile(manifestPath)
	if err != nil {
		return release.Manifest{}, err
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return release.Manifest{}, err
	}
	known, err := u.cfg.State.Revocations()
	if err != nil {
		return release.Manifest{}, fmt.Errorf("the revocation list kept: %w", err)
	}
	m, revs, err := release.VerifyManifest(manifest, sig, release.Trust{Roots: u.cfg.Roots, Revocations: known, Now: u.cfg.Now()})
	if kerr := u.cfg.State.KeepRevocations(revs); kerr != nil {
		u.cfg.Logger.Warn("keep the release revocation list", "err", kerr)
	}
	if err != nil {
		return m, err
	}
	if m.Version != v {
		return m, fmt.Errorf("release.json is of version %s, not %s: %w", m.Version, v, release.ErrTampered)
	}
	return m, release.CheckUpgrade(u.cfg.Version, m.Version)
}

// install unpacks the archive into v's folder of the layout, through a
// temporary folder renamed into place, and returns the new binary.
func (u *Updater) install(v, archive string) (string, error) {
	dst := u.cfg.Layout.Dir(v)
	if _, err := os.Stat(u.cfg.Layout.Binary(v)); err == nil {
		return u.cfg.Layout.Binary(v), nil
	}
	tmp := dst + ".unpack"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := unpack(archive, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if _, err := os.Stat(filepath.Join(tmp, Name)); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("the archive holds no %s", Name)
	}
	_ = os.RemoveAll(dst)
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	return u.cfg.Layout.Binary(v), syncDir(filepath.Dir(dst))
}

// selfTest runs `BINARY selftest --config CONFIG` within the self-test
// deadline: the new binary must start on this machine, read the config,
// open every bound book and reach the coordinator.
func (u *Updater) selfTest(ctx context.Context, bin string) error {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.SelfTestTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "selftest", "--config", u.cfg.ConfigPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s selftest: %w: %s", bin, err, lastLine(out))
	}
	return nil
}

// lastLine is the last non-empty line of out, at most 300 bytes.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 300 {
		l = l[:300]
	}
	return l
}

// Swap swaps binary, version to, in for the running version and records
// the swap: the new version must be healthy within health. The caller
// then restarts the agent.
func (u *Updater) Swap(to, binary string, health time.Duration) error {
	old, err := u.cfg.Layout.Running(u.cfg.Version)
	if err != nil {
		return fail(protocol.StepSwap, err)
	}
	p := &Pending{From: u.cfg.Version, To: to, Old: old, New: binary, Deadline: u.cfg.Now().Add(health).UTC()}
	if err := u.cfg.State.SetPending(p); err != nil {
		return fail(protocol.StepSwap, err)
	}
	if err := u.cfg.Layout.Swap(old, binary); err != nil {
		return errors.Join(fail(protocol.StepSwap, err), u.cfg.State.SetPending(nil))
	}
	u.cfg.Logger.Info("update swapped in; restarting", "from", u.cfg.Version, "to", to)
	return nil
}

// Pending is the swap this version must become healthy for (from
// Started); nil: none.
func (u *Updater) Pending() *Pending { return u.cfg.Pending }

// Connected is called on every welcome: the new version of a pending
// swap is healthy (Healthy).
func (u *Updater) Connected() error {
	if u.cfg.Pending == nil {
		return nil
	}
	return Healthy(u.cfg.State, u.cfg.Layout, u.cfg.Version)
}

// Overdue is called when the pending swap's deadline passes: unless the
// version became healthy meanwhile, the old version is swapped back in
// (ErrRolledBack: the caller exits).
func (u *Updater) Overdue() error {
	p, err := u.cfg.State.Pending()
	if err != nil || p == nil || p.To != u.cfg.Version {
		return err
	}
	return RollBack(u.cfg.State, u.cfg.Layout, p, fmt.Sprintf("version %s did not connect to the coordinator by %s", p.To, p.Deadline.Format(time.RFC3339)))
}
