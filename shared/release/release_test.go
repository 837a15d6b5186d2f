package release_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/release"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

// fixture is a root, a signing key it certifies for a year around now,
// and a release of version 1.1.0 written to dir.
type fixture struct {
	rootPub     ed25519.PublicKey
	root        ed25519.PrivateKey
	signingPub  ed25519.PublicKey
	signing     ed25519.PrivateKey
	cert        release.Signed
	dir         string
	revocations *release.Signed
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.rootPub, f.root = newKey(t)
	f.signingPub, f.signing = newKey(t)
	f.cert = certify(t, f.root, f.signingPub, now.Add(-24*time.Hour), now.Add(365*24*time.Hour))
	return f
}

func certify(t *testing.T, root ed25519.PrivateKey, pub ed25519.PublicKey, from, to time.Time) release.Signed {
	t.Helper()
	c, err := release.Certify(root, pub, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// write writes an archive and the signed manifest of version to f.dir.
func (f *fixture) write(t *testing.T, version string) {
	t.Helper()
	body := []byte("the agent " + version)
	name := "ferry-agent-" + version + "-linux-amd64.tar.gz"
	if err := os.WriteFile(filepath.Join(f.dir, name), body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	m := release.Manifest{Version: version, Created: now, Certificate: f.cert, Revocations: f.revocations,
		Platforms: map[string]release.Archive{"linux-amd64": {Name: name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}}}
	manifest, sig, err := release.Sign(m, f.signing)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.dir, release.ManifestFile), manifest)
	writeFile(t, filepath.Join(f.dir, release.SignatureFile), sig)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) trust() release.Trust {
	return release.Trust{Roots: []ed25519.PublicKey{f.rootPub}, Now: now}
}

func TestGoodReleaseIsAccepted(t *testing.T) {
	f := newFixture(t)
	f.write(t, "1.1.0")
	m, _, err := release.VerifyDir(f.dir, f.trust())
	if err != nil {
		t.Fatalf("VerifyDir: %v", err)
	}
	if m.Version != "1.1.0" || m.Platforms["linux-amd64"].Size == 0 {
		t.Errorf("manifest = %+v", m)
	}
	if err := release.CheckUpgrade("1.0.0", m.Version); err != nil {
		t.Errorf("CheckUpgrade(1.0.0, 1.1.0): %v", err)
	}
}

// TestRefusals: each way a release can be wrong is refused with the
// reason that names it.
func TestRefusals(t *testing.T) {
	cases := []struct {
		name   string
		spoil  func(t *testing.T, f *fixture, tr *release.Trust)
		reason string
	}{
		{"tampered archive", func(t *testing.T, f *fixture, tr *release.Trust) {
			writeFile(t, filepath.Join(f.dir, "ferry-agent-1.1.0-linux-amd64.tar.gz"), []byte("the agent 1.1.1"))
		}, "tampered"},
		{"longer archive", func(t *testing.T, f *fixture, tr *release.Trust) {
			writeFile(t, filepath.Join(f.dir, "ferry-agent-1.1.0-linux-amd64.tar.gz"), []byte("the agent 1.1.0 and more"))
		}, "tampered"},
		{"edited manifest", func(t *testing.T, f *fixture, tr *release.Trust) {
			path := filepath.Join(f.dir, release.ManifestFile)
			b, _ := os.ReadFile(path)
			writeFile(t, path, bytes.Replace(b, []byte(`"1.1.0"`), []byte(`"9.1.0"`), 1))
		}, "badSignature"},
		{"signed by an unknown root", func(t *testing.T, f *fixture, tr *release.Trust) {
			other, _ := newKey(t)
			tr.Roots = []ed25519.PublicKey{other}
		}, "unknownKey"},
		{"signed by an uncertified key", func(t *testing.T, f *fixture, tr *release.Trust) {
			_, f.signing = newKey(t)
			f.write(t, "1.1.0")
		}, "badSignature"},
		{"certificate self-signed", func(t *testing.T, f *fixture, tr *release.Trust) {
			f.cert = certify(t, f.signing, f.signingPub, now.Add(-time.Hour), now.Add(time.Hour))
			f.write(t, "1.1.0")
		}, "unknownKey"},
		{"expired certificate", func(t *testing.T, f *fixture, tr *release.Trust) {
			f.cert = certify(t, f.root, f.signingPub, now.Add(-48*time.Hour), now.Add(-time.Hour))
			f.write(t, "1.1.0")
		}, "expired"},
		{"certificate not yet valid", func(t *testing.T, f *fixture, tr *release.Trust) {
			f.cert = certify(t, f.root, f.signingPub, now.Add(time.Hour), now.Add(48*time.Hour))
			f.write(t, "1.1.0")
		}, "expired"},
		{"revoked by the list the verifier knows", func(t *testing.T, f *fixture, tr *release.Trust) {
			_, list, err := release.Revoke(f.root, nil, []string{release.KeyID(f.signingPub)}, now)
			if err != nil {
				t.Fatal(err)
			}
			tr.Revocations = &list
		}, "revoked"},
		{"revoked by the list the release carries", func(t *testing.T, f *fixture, tr *release.Trust) {
			s, _, err := release.Revoke(f.root, nil, []string{release.KeyID(f.signingPub)}, now)
			if err != nil {
				t.Fatal(err)
			}
			f.revocations = &s
			f.write(t, "1.1.0")
		}, "revoked"},
		{"an older list in the release does not undo a revocation", func(t *testing.T, f *fixture, tr *release.Trust) {
			old, oldList, _ := release.Revoke(f.root, nil, []string{"0000000000000000"}, now)
			_, list, _ := release.Revoke(f.root, &oldList, []string{release.KeyID(f.signingPub)}, now)
			tr.Revocations = &list
			f.revocations = &old
			f.write(t, "1.1.0")
		}, "revoked"},
		{"revocation list signed by the signing key", func(t *testing.T, f *fixture, tr *release.Trust) {
			s, _, _ := release.Revoke(f.signing, nil, []string{"0000000000000000"}, now)
			f.revocations = &s
			f.write(t, "1.1.0")
		}, "unknownKey"},
		{"certificate passed off as a revocation list", func(t *testing.T, f *fixture, tr *release.Trust) {
			s := f.cert
			f.revocations = &s
			f.write(t, "1.1.0")
		}, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.write(t, "1.1.0")
			tr := f.trust()
			c.spoil(t, f, &tr)
			_, _, err := release.VerifyDir(f.dir, tr)
			if got := release.Reason(err); got != c.reason {
				t.Fatalf("VerifyDir: %v (reason %q), want reason %q", err, got, c.reason)
			}
		})
	}
}

func TestDowngradeIsRefused(t *testing.T) {
	for _, c := range []struct{ running, next string }{{"1.1.0", "1.0.0"}, {"1.1.0", "1.1.0"}, {"1.1.0", "1.1.0-rc.1"}, {"2.0.0", "1.99.99"}} {
		err := release.CheckUpgrade(c.running, c.next)
		if release.Reason(err) != "downgrade" || !strings.Contains(err.Error(), c.next) {
			t.Errorf("CheckUpgrade(%s, %s) = %v, want a downgrade naming %s", c.running, c.next, err, c.next)
		}
	}
}

func TestCompare(t *testing.T) {
	order := []string{"0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.0.1", "1.2.0", "1.10.0", "10.0.0"}
	for i := range order {
		for j := range order {
			got, err := release.Compare(order[i], order[j])
			want := min(max(i-j, -1), 1)
			if err != nil || got != want {
				t.Errorf("Compare(%s, %s) = %d, %v; want %d", order[i], order[j], got, err, want)
			}
		}
	}
	for _, bad := range []string{"", "1.0", "1.0.0.0", "01.0.0", "1.0.x", "1.0.0-", "1.0.0-a..b", "1.0.0+build", "dev"} {
		if err := release.CheckVersion(bad); !errors.Is(err, release.ErrMalformed) {
			t.Errorf("CheckVersion(%q) = %v, want malformed", bad, err)
		}
	}
}

func TestKeysRoundTrip(t *testing.T) {
	pub, key := newKey(t)
	b, err := release.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := release.ParsePrivateKey(b)
	if err != nil || !back.Equal(key) {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	keys, err := release.ParsePublicKeys(release.FormatPublicKey(pub) + ", " + release.FormatPublicKey(pub))
	if err != nil || len(keys) != 2 || !keys[0].Equal(pub) {
		t.Fatalf("ParsePublicKeys = %v, %v", keys, err)
	}
	if _, err := release.ParsePublicKeys("bm90IGEga2V5"); err == nil {
		t.Error("ParsePublicKeys took a short key")
	}
}
