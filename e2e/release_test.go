package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/release"
)

// TestReleases: make release VERSION=1.0.0, then 1.1.0 in the same keys
// folder, reuses the test root and signing key: the root compiled into
// the 1.0.0 agent verifies 1.1.0. Then the signing key is rotated (the
// root certifies a new one) and the old one revoked, and 1.2.0 is signed
// with the new key, carrying the revocation list. A coordinator with
// --downloads lists 1.2.0 verified and the two older releases refused as
// revoked; an agent downloads 1.2.0's archive in two Range requests whose
// bytes have the manifest's SHA-256, and its release.json and signature,
// which the 1.0.0 agent's roots verify; the callers who may not are
// refused.
// One platform (this machine's) keeps the builds cheap.
func TestReleases(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	keys, out := filepath.Join(dir, "keys"), filepath.Join(dir, "dist")
	platform := "linux-" + runtime.GOARCH
	makeRelease := func(version string, env ...string) {
		t.Helper()
		cmd := exec.Command("make", "-C", "..", "release", "VERSION="+version, "OUT="+out, "RELEASE_KEYS="+keys)
		cmd.Env = append(append(os.Environ(), "PLATFORMS="+platform), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make release VERSION=%s: %v\n%s", version, err, b)
		}
	}
	makeRelease("1.0.0")
	first := readFiles(t, keys, "root.pub", "signing.key", "signing.cert")
	makeRelease("1.1.0")
	if again := readFiles(t, keys, "root.pub", "signing.key", "signing.cert"); again != first {
		t.Fatal("the second make release made new keys, want the first's reused")
	}

	// The 1.0.0 agent's compiled-in root trusts 1.1.0.
	agent := unpackAgent(t, filepath.Join(out, "releases", "1.0.0", "ferry-agent-1.0.0-"+platform+".tar.gz"))
	v, err := exec.Command(agent, "version").Output()
	rootPub := strings.TrimSpace(readFiles(t, keys, "root.pub"))
	if err != nil || !strings.Contains(string(v), "release roots: "+rootPub+"\n") {
		t.Fatalf("ferry-agent version: %v\n%s\nwant the root %s", err, v, rootPub)
	}
	roots, err := release.ParsePublicKeys(strings.TrimPrefix(strings.TrimSpace(string(v)[strings.Index(string(v), "release roots: "):]), "release roots: "))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := release.VerifyDir(filepath.Join(out, "releases", "1.1.0"), release.Trust{Roots: roots, Now: time.Now()}); err != nil {
		t.Fatalf("1.1.0 against the 1.0.0 agent's roots: %v", err)
	}

	// Rotate the signing key and revoke the old one; sign 1.2.0 with the new.
	oldKey, err := release.ParsePrivateKey([]byte(readFiles(t, keys, "signing.key")))
	if err != nil {
		t.Fatal(err)
	}
	tool := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", append([]string{"run", "./installer/release"}, args...)...)
		cmd.Dir = ".."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("release %v: %v\n%s", args, err, b)
		}
	}
	tool("certify", "-root-key", filepath.Join(keys, "root.key"), "-key", filepath.Join(keys, "new.key"), "-out", filepath.Join(keys, "new.cert"))
	tool("revoke", "-root-key", filepath.Join(keys, "root.key"), "-list", filepath.Join(keys, "revocations.json"),
		release.KeyID(oldKey.Public().(ed25519.PublicKey)))
	makeRelease("1.2.0", "RELEASE_SIGNING_KEY="+filepath.Join(keys, "new.key"), "RELEASE_ROOTS="+rootPub)

	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--downloads", out, "--release-roots", rootPub)
	var list struct {
		Results []struct {
			Version, Reason string
			Verified        bool
			Platforms       []struct{ Platform, Name, SHA256, DownloadURL string }
		}
	}
	if s := c.do("GET", "/agentReleases", nil, &list); s != 200 || len(list.Results) != 3 {
		t.Fatalf("GET /agentReleases: %d %+v, want 3 releases", s, list)
	}
	for i, want := range []struct {
		version, reason string
	}{{"1.2.0", ""}, {"1.1.0", "revoked"}, {"1.0.0", "revoked"}} {
		got := list.Results[i]
		if got.Version != want.version || got.Reason != want.reason || got.Verified != (want.reason == "") {
			t.Errorf("release %d: %+v, want %s %q", i, got, want.version, want.reason)
		}
	}
	archive := list.Results[0].Platforms[0]

	_, _, code := setupConnection(t, c, "csv")
	credential := agentCredential(t, linkAgent(t, c, code, "csv", sampleCSV))
	download := func(url, auth, rng string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	s1, head := download(archive.DownloadURL, credential, "bytes=0-99999")
	s2, rest := download(archive.DownloadURL, credential, "bytes=100000-")
	sum := sha256.Sum256(append(head, rest...))
	if s1 != 206 || s2 != 206 || hex.EncodeToString(sum[:]) != archive.SHA256 {
		t.Errorf("download in two ranges: %d, %d, SHA-256 %x, want 206, 206, %s", s1, s2, sum, archive.SHA256)
	}
	// The agent checks the release itself, with the roots compiled into it.
	base := strings.TrimSuffix(archive.DownloadURL, archive.Name)
	sm, manifest := download(base+release.ManifestFile, credential, "")
	ss, sig := download(base+release.SignatureFile, credential, "")
	m, _, err := release.VerifyManifest(manifest, sig, release.Trust{Roots: roots, Now: time.Now()})
	if sm != 200 || ss != 200 || err != nil {
		t.Fatalf("release.json %d, release.json.sig %d, checked with the 1.0.0 agent's roots: %v", sm, ss, err)
	}
	if err := release.VerifyArchive(bytes.NewReader(append(head, rest...)), m.Platforms[platform]); err != nil {
		t.Errorf("the downloaded archive: %v", err)
	}

	// Who is refused: an API call without a key or with an agent's
	// credential, a download without a credential or with an API key or a
	// revoked agent's, an archive of a revoked signing key's release.
	for _, r := range []struct {
		name, url, auth string
	}{
		{"GET /agentReleases without a key", c.url() + "/agentReleases", ""},
		{"GET /agentReleases with an agent's credential", c.url() + "/agentReleases", credential},
		{"a download without a credential", archive.DownloadURL, ""},
		{"a download with an API key", archive.DownloadURL, e2eKey},
	} {
		if s, _ := download(r.url, r.auth, ""); s != 401 {
			t.Errorf("%s: %d, want 401", r.name, s)
		}
	}
	old := c.url() + "/agent/v1/releases/1.1.0/ferry-agent-1.1.0-" + platform + ".tar.gz"
	if s, _ := download(old, credential, ""); s != 404 {
		t.Errorf("a download of the revoked key's 1.1.0: %d, want 404", s)
	}
	var agents struct{ Results []struct{ ID string } }
	if s := c.do("GET", "/agents", nil, &agents); s != 200 || len(agents.Results) != 1 {
		t.Fatalf("GET /agents: %d %+v", s, agents)
	}
	if s := c.do("POST", "/agents/"+agents.Results[0].ID+"/revoke", nil, nil); s != 200 {
		t.Fatalf("revoke the agent: %d", s)
	}
	if s, _ := download(archive.DownloadURL, credential, ""); s != 401 {
		t.Errorf("a download with a revoked agent's credential: %d, want 401", s)
	}
}

// readFiles is the files' contents, joined.
func readFiles(t *testing.T, dir string, names ...string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
	}
	return b.String()
}

// unpackAgent extracts ferry-agent from a release's .tar.gz and returns
// its path.
func unpackAgent(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no ferry-agent: %v", archive, err)
		}
		if filepath.Base(h.Name) != "ferry-agent" {
			continue
		}
		path := filepath.Join(t.TempDir(), "ferry-agent")
		out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
}
