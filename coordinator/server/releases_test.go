package server

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/api"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// releaseKey is a signing key and its certificate.
type releaseKey struct {
	pub  ed25519.PublicKey
	key  ed25519.PrivateKey
	cert release.Signed
}

func newEd25519(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

// signingKey makes a signing key that root certifies for a day around now.
func signingKey(t *testing.T, root ed25519.PrivateKey) releaseKey {
	t.Helper()
	k := releaseKey{}
	k.pub, k.key = newEd25519(t)
	var err error
	if k.cert, err = release.Certify(root, k.pub, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return k
}

// writeRelease writes releases/VERSION under dir, as make release does:
// one archive, release.json signed by k, carrying revs when not nil. It
// returns the archive's bytes.
func writeRelease(t *testing.T, dir, version string, k releaseKey, revs *release.Signed) []byte {
	t.Helper()
	folder := filepath.Join(dir, "releases", version)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("ferry-agent "+version+" "), 5000)
	name := "ferry-agent-" + version + "-linux-amd64.tar.gz"
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(folder, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(name, body)
	sum := sha256.Sum256(body)
	m := release.Manifest{Version: version, Created: time.Now(), Certificate: k.cert, Revocations: revs,
		Platforms: map[string]release.Archive{"linux-amd64": {Name: name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}}}
	manifest, sig, err := release.Sign(m, k.key)
	if err != nil {
		t.Fatal(err)
	}
	write(release.ManifestFile, manifest)
	write(release.SignatureFile, sig)
	return body
}

type releasesList struct {
	Results []struct {
		Version   string
		Verified  bool
		Reason    string
		Message   string
		Platforms []struct{ Platform, Name, SHA256, DownloadURL string }
	}
}

// TestAgentReleases: a coordinator with --downloads lists every release
// there, the good one verified and the others with the reason they are
// refused (a signing key revoked by the list a later release carries,
// a root it does not trust, a tampered archive); an agent downloads the
// verified release's archive, resuming with a Range request, and nothing
// else; callers without the right credential are refused.
func TestAgentReleases(t *testing.T) {
	rootPub, root := newEd25519(t)
	_, strangerRoot := newEd25519(t)
	good, revoked, stranger := signingKey(t, root), signingKey(t, root), signingKey(t, strangerRoot)
	revs, _, err := release.Revoke(root, nil, []string{release.KeyID(revoked.pub)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	body := writeRelease(t, dir, "1.1.0", good, &revs)
	writeRelease(t, dir, "1.0.0", revoked, nil)
	writeRelease(t, dir, "0.9.0", stranger, nil)
	writeRelease(t, dir, "0.8.0", good, nil)
	if err := os.WriteFile(filepath.Join(dir, "releases", "1.1.0", "notes.txt"), []byte("not offered"), 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "releases", "0.8.0", "ferry-agent-0.8.0-linux-amd64.tar.gz")
	if err := os.WriteFile(tampered, []byte("not the agent"), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(t)
	cfg.Downloads, cfg.ReleaseRoots = dir, release.FormatPublicKey(rootPub)
	srv := serve(t, cfg)
	var list releasesList
	if s := apiCall(t, srv, cfg.AdminKey, "GET", "/agentReleases", nil, &list); s != 200 {
		t.Fatalf("GET /agentReleases: %d", s)
	}
	want := []struct {
		version  string
		verified bool
		reason   string
	}{{"1.1.0", true, ""}, {"1.0.0", false, "revoked"}, {"0.9.0", false, "unknownKey"}, {"0.8.0", false, "tampered"}}
	if len(list.Results) != len(want) {
		t.Fatalf("GET /agentReleases: %+v, want %d releases", list, len(want))
	}
	for i, w := range want {
		got := list.Results[i]
		if got.Version != w.version || got.Verified != w.verified || got.Reason != w.reason || (w.reason != "") != (got.Message != "") {
			t.Errorf("release %d: %+v, want %s verified %v reason %q and a message when refused", i, got, w.version, w.verified, w.reason)
		}
	}
	url := list.Results[0].Platforms[0].DownloadURL
	if !strings.HasSuffix(url, protocol.ReleasesPath+"1.1.0/ferry-agent-1.1.0-linux-amd64.tar.gz") {
		t.Fatalf("downloadUrl %q", url)
	}
	if list.Results[1].Platforms[0].DownloadURL != "" {
		t.Errorf("the revoked release has a downloadUrl: %+v", list.Results[1])
	}

	support := "server-test-support-key-0123456789abcdef"
	if err := api.EnsureKey(t.Context(), srv.Store, support, "support", store.ScopeSupport, time.Now()); err != nil {
		t.Fatal(err)
	}
	agent := storedAgent(t, srv, "agent-1")
	gone := "fra_gone-secret"
	if err := srv.Store.CreateAgent(t.Context(), store.Agent{ID: "gone", CredentialHash: hub.HashCredential(gone),
		Created: time.Now(), Revoked: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, key string
		want      int
	}{{"support key", support, 200}, {"no key", "", 401}, {"an agent's credential", agent, 401}} {
		if s := apiCall(t, srv, c.key, "GET", "/agentReleases", nil, nil); s != c.want {
			t.Errorf("GET /agentReleases with %s: %d, want %d", c.name, s, c.want)
		}
	}

	get := func(path, credential, rng string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+srv.Addr()+path, nil)
		if credential != "" {
			req.Header.Set("Authorization", "Bearer "+credential)
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
	path := protocol.ReleasesPath + "1.1.0/ferry-agent-1.1.0-linux-amd64.tar.gz"
	if s, b := get(path, agent, ""); s != 200 || !bytes.Equal(b, body) {
		t.Errorf("download: %d, %d bytes, want 200 and the %d bytes of the archive", s, len(b), len(body))
	}
	if s, b := get(path, agent, "bytes=1000-"); s != http.StatusPartialContent || !bytes.Equal(b, body[1000:]) {
		t.Errorf("download from byte 1000: %d, %d bytes, want 206 and the rest of the archive", s, len(b))
	}
	for _, c := range []struct {
		name, path, credential string
		want                   int
	}{
		{"no credential", path, "", 401},
		{"an API key", path, cfg.AdminKey, 401},
		{"a revoked agent", path, gone, 401},
		{"a revoked signing key's release", protocol.ReleasesPath + "1.0.0/ferry-agent-1.0.0-linux-amd64.tar.gz", agent, 404},
		{"a tampered archive", protocol.ReleasesPath + "0.8.0/ferry-agent-0.8.0-linux-amd64.tar.gz", agent, 404},
		{"the manifest", protocol.ReleasesPath + "1.1.0/release.json", agent, 200},
		{"the signature", protocol.ReleasesPath + "1.1.0/release.json.sig", agent, 200},
		{"a revoked release's manifest", protocol.ReleasesPath + "1.0.0/release.json", agent, 404},
		{"another file in the folder", protocol.ReleasesPath + "1.1.0/notes.txt", agent, 404},
		{"no such version", protocol.ReleasesPath + "9.9.9/ferry-agent-1.1.0-linux-amd64.tar.gz", agent, 404},
		{"a path out of the folder", protocol.ReleasesPath + "1.1.0/..%2f..%2freleases%2f1.1.0%2frelease.json", agent, 404},
	} {
		if s, _ := get(c.path, c.credential, ""); s != c.want {
			t.Errorf("download with %s: %d, want %d", c.name, s, c.want)
		}
	}
}

// TestAgentReleasesWithoutDownloads: with no --downloads the list is
// empty.
func TestAgentReleasesWithoutDownloads(t *testing.T) {
	cfg := testConfig(t)
	srv := serve(t, cfg)
	list := releasesList{}
	if s := apiCall(t, srv, cfg.AdminKey, "GET", "/agentReleases", nil, &list); s != 200 || list.Results == nil || len(list.Results) != 0 {
		t.Errorf("GET /agentReleases: %d %+v, want 200 and no release", s, list)
	}
}

func TestReleaseRootsValidated(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReleaseRoots = "not-a-key"
	if err := cfg.Validate(); err == nil {
		t.Error("release roots not-a-key: no error, want one naming release-roots")
	}
}
