package release_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/release"
)

// FuzzVerifyManifest: whatever release.json and its signature hold, the
// check returns an error with a reason or a manifest, and never panics;
// nothing but the signed manifest verifies.
func FuzzVerifyManifest(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	rootPub := seed.Public().(ed25519.PublicKey)
	cert, err := release.Certify(seed, rootPub, time.Unix(0, 0), time.Unix(1<<35, 0))
	if err != nil {
		f.Fatal(err)
	}
	m := release.Manifest{Version: "1.0.0", Certificate: cert, Platforms: map[string]release.Archive{
		"linux-amd64": {Name: "a.tar.gz", Size: 1, SHA256: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"}}}
	manifest, sig, err := release.Sign(m, seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(manifest, sig)
	f.Add([]byte(`{"type":"ferry-agent-release","version":"1.0.0","certificate":{"signed":"e30="}}`), []byte("AAAA"))
	f.Add([]byte(`null`), []byte(``))
	trust := release.Trust{Roots: []ed25519.PublicKey{rootPub}, Now: time.Unix(1000, 0)}
	f.Fuzz(func(t *testing.T, manifestIn, sigIn []byte) {
		got, _, err := release.VerifyManifest(manifestIn, sigIn, trust)
		if err != nil {
			if release.Reason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if string(manifestIn) != string(manifest) || got.Version != "1.0.0" {
			t.Fatalf("verified a manifest that was not signed: %q", manifestIn)
		}
	})
}
