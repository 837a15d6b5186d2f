package releases_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/releases"
	"github.com/ferry-sync/ferry/shared/release"
)

// TestArchiveChangedIsCheckedAgain: an archive found right is not hashed
// again while unchanged, but one replaced after the first check is, and
// its release is then refused and its archive no longer offered; a
// folder not named for its version is refused.
func TestArchiveChangedIsCheckedAgain(t *testing.T) {
	rootPub, root, _ := ed25519.GenerateKey(rand.Reader)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	cert, err := release.Certify(root, pub, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(folder, version string) string {
		d := filepath.Join(dir, releases.Folder, folder)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		body := []byte("agent " + version)
		sum := sha256.Sum256(body)
		name := "ferry-agent-" + version + "-linux-amd64.tar.gz"
		m := release.Manifest{Version: version, Certificate: cert,
			Platforms: map[string]release.Archive{"linux-amd64": {Name: name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}}}
		manifest, sig, err := release.Sign(m, key)
		if err != nil {
			t.Fatal(err)
		}
		for n, b := range map[string][]byte{name: body, release.ManifestFile: manifest, release.SignatureFile: sig} {
			if err := os.WriteFile(filepath.Join(d, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Join(d, name)
	}
	archive := write("2.0.0", "2.0.0")
	write("3.0.0", "2.5.0")
	cat := releases.New(dir, []ed25519.PublicKey{rootPub}, nil, slog.New(slog.DiscardHandler))
	list, err := cat.List()
	if err != nil || len(list) != 2 || list[0].Version != "3.0.0" || list[0].Reason != "malformed" || !list[1].Verified {
		t.Fatalf("List = %+v, %v; want 3.0.0 malformed, 2.0.0 verified", list, err)
	}
	if _, ok := cat.File("2.0.0", filepath.Base(archive)); !ok {
		t.Fatal("Archive of the verified release: not offered")
	}
	// Same size, other bytes, a later modification time.
	if err := os.WriteFile(archive, []byte("agent 6.6.6"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	if err := os.Chtimes(archive, later, later); err != nil {
		t.Fatal(err)
	}
	if r, ok := cat.Get("2.0.0"); !ok || r.Verified || r.Reason != "tampered" {
		t.Errorf("Get after the archive changed: %+v, want tampered", r)
	}
	if _, ok := cat.File("2.0.0", filepath.Base(archive)); ok {
		t.Error("the changed archive is still offered")
	}
	if _, ok := cat.Get("../2.0.0"); ok {
		t.Error("Get took a path for a version")
	}
}
