package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// VerifyArchive reads an archive to its end and checks its size and
// SHA-256 against the manifest's entry: ErrTampered when either differs.
func VerifyArchive(r io.Reader, a Archive) error {
	h := sha256.New()
	// One byte past the size tells a longer file from an exact one.
	n, err := io.Copy(h, io.LimitReader(r, a.Size+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", a.Name, err)
	}
	if n != a.Size {
		return fmt.Errorf("%s: %d bytes, the manifest says %d: %w", a.Name, n, a.Size, ErrTampered)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
		return fmt.Errorf("%s: SHA-256 %s, the manifest says %s: %w", a.Name, got, a.SHA256, ErrTampered)
	}
	return nil
}

// VerifyDir checks the release in dir: release.json and its signature
// (VerifyManifest), then every archive it names, which must be in dir.
// It returns the manifest and the newest revocation list seen.
func VerifyDir(dir string, trust Trust) (Manifest, *Revocations, error) {
	manifest, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return Manifest{}, trust.Revocations, err
	}
	sig, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if err != nil {
		return Manifest{}, trust.Revocations, err
	}
	m, revs, err := VerifyManifest(manifest, sig, trust)
	if err != nil {
		return m, revs, err
	}
	for _, p := range m.PlatformNames() {
		if err := verifyFile(filepath.Join(dir, m.Platforms[p].Name), m.Platforms[p]); err != nil {
			return m, revs, fmt.Errorf("%s: %w", p, err)
		}
	}
	return m, revs, nil
}

// verifyFile is VerifyArchive on the file at path.
func verifyFile(path string, a Archive) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return VerifyArchive(f, a)
}
