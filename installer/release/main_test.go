package main

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/release"
)

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatalf("release %v: %v", args, err)
	}
	return out.String()
}

// TestKeysPackVerifyRevoke: keys are made once and reused; pack writes a
// Windows .zip holding ferry-agent.exe and a release that verifies; a
// revocation of the signing key carried by a release is refused.
func TestKeysPackVerifyRevoke(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	mustRun(t, "keys", "-dir", keys)
	first, _ := os.ReadFile(filepath.Join(keys, "signing.cert"))
	if out := mustRun(t, "keys", "-dir", keys); out != "" {
		t.Errorf("second keys run: %q, want nothing made", out)
	}
	if again, _ := os.ReadFile(filepath.Join(keys, "signing.cert")); !bytes.Equal(first, again) {
		t.Error("the second keys run certified a new signing key")
	}
	roots := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(keys, "root.pub")))))

	exe := filepath.Join(dir, "ferry-agent.exe")
	if err := os.WriteFile(exe, []byte("MZ the agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(dir, "releases", "1.0.0")
	pack := func(extra ...string) {
		t.Helper()
		args := append([]string{"pack", "-version", "1.0.0", "-out", rel, "-key", filepath.Join(keys, "signing.key"),
			"-cert", filepath.Join(keys, "signing.cert")}, extra...)
		mustRun(t, append(args, "windows-amd64="+exe)...)
	}
	pack("-roots", roots)
	zr, err := zip.OpenReader(filepath.Join(rel, "ferry-agent-1.0.0-windows-amd64.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "ferry-agent-1.0.0-windows-amd64/ferry-agent.exe" {
		t.Fatalf("zip holds %v, want the one exe", zr.File)
	}
	rc, _ := zr.File[0].Open()
	if b, _ := io.ReadAll(rc); string(b) != "MZ the agent" {
		t.Errorf("the zip's exe holds %q", b)
	}
	rc.Close()

	key, err := release.ParsePrivateKey(must(os.ReadFile(filepath.Join(keys, "signing.key"))))
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(keys, "revocations.json")
	mustRun(t, "revoke", "-root-key", filepath.Join(keys, "root.key"), "-list", list, "0000000000000000")
	if out := mustRun(t, "revoke", "-root-key", filepath.Join(keys, "root.key"), "-list", list,
		release.KeyID(key.Public().(ed25519.PublicKey))); !strings.Contains(out, "revocation list 2 ") {
		t.Errorf("second revoke: %q, want list 2", out)
	}
	pack("-revocations", list)
	err = run([]string{"verify", "-roots", roots, rel}, io.Discard)
	if release.Reason(err) != "revoked" {
		t.Errorf("verify a release of a revoked key: %v, want revoked", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
