package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/shared/release"
)

// runPack packs each platform's agent binary into its archive in -out,
// writes release.json naming them and signs it (release.json.sig); with
// -roots, it then checks the release as an agent trusting them would.
func runPack(set *flag.FlagSet, args []string, out io.Writer) error {
	version := set.String("version", "", "the release's version, MAJOR.MINOR.PATCH")
	dir := set.String("out", "", "folder to write the release to (emptied first)")
	keyPath := set.String("key", "", "signing private key (PEM)")
	certPath := set.String("cert", "", "the signing key's certificate")
	revPath := set.String("revocations", "", "the root's revocation list to ship with the release (optional)")
	installSh := set.String("install-sh", "installer/linux/install.sh", "install.sh to put beside the Linux binaries")
	roots := set.String("roots", "", "root public keys to check the release against once written")
	if err := set.Parse(args); err != nil {
		return err
	}
	if *version == "" || *dir == "" || *keyPath == "" || *certPath == "" || set.NArg() == 0 {
		return errors.New("pack: -version, -out, -key, -cert and PLATFORM=BINARY arguments are required")
	}
	if err := release.CheckVersion(*version); err != nil {
		return err
	}
	key, err := readKey(*keyPath)
	if err != nil {
		return err
	}
	m := release.Manifest{Version: *version, Created: time.Now().UTC(), Platforms: map[string]release.Archive{}}
	if m.Certificate, err = readSigned(*certPath); err != nil {
		return err
	}
	if *revPath != "" {
		s, err := readSigned(*revPath)
		if err != nil {
			return err
		}
		m.Revocations = &s
	}
	if err := os.RemoveAll(*dir); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	for _, arg := range set.Args() {
		platform, bin, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q is not PLATFORM=BINARY", arg)
		}
		a, err := packPlatform(*dir, *version, platform, bin, *installSh)
		if err != nil {
			return fmt.Errorf("%s: %w", platform, err)
		}
		m.Platforms[platform] = a
	}
	manifest, sig, err := release.Sign(m, key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, release.ManifestFile), manifest, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, release.SignatureFile), sig, 0o644); err != nil {
		return err
	}
	if *roots != "" {
		if err := verify(*dir, *roots, out); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "release %s in %s\n", *version, *dir)
	return nil
}

// packPlatform writes one platform's archive: for Windows a .zip of
// ferry-agent-VERSION-PLATFORM/ferry-agent.exe, otherwise a .tar.gz of
// ferry-agent-VERSION-PLATFORM/ with ferry-agent and install.sh (what
// make installers' tarball holds).
func packPlatform(dir, version, platform, bin, installSh string) (release.Archive, error) {
	base := "ferry-agent-" + version + "-" + platform
	var name string
	var err error
	if strings.HasPrefix(platform, "windows-") {
		name = base + ".zip"
		err = writeZip(filepath.Join(dir, name), base+"/ferry-agent.exe", bin)
	} else {
		name = base + ".tar.gz"
		err = writeTarGz(filepath.Join(dir, name), base, map[string]string{"ferry-agent": bin, "install.sh": installSh})
	}
	if err != nil {
		return release.Archive{}, err
	}
	return describe(filepath.Join(dir, name))
}

// describe is a written archive's entry in the manifest.
func describe(path string) (release.Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return release.Archive{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return release.Archive{}, err
	}
	return release.Archive{Name: filepath.Base(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// writeTarGz writes a gzipped tar of the files (name in the folder:
// source), executable and owned by root, under the folder top.
func writeTarGz(path, top string, files map[string]string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: top + "/", Mode: 0o755, ModTime: now}); err != nil {
		return err
	}
	for _, name := range []string{"ferry-agent", "install.sh"} {
		b, err := os.ReadFile(files[name])
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + name, Mode: 0o755, Size: int64(len(b)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return errors.Join(tw.Close(), gz.Close())
}

// writeZip writes a zip holding the file src as name, executable.
func writeZip(path, name, src string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		return err
	}
	return zw.Close()
}

// runVerify checks a release folder against the root public keys.
func runVerify(set *flag.FlagSet, args []string, out io.Writer) error {
	roots := set.String("roots", "", "trusted root public keys (base64, separated by commas)")
	if err := set.Parse(args); err != nil {
		return err
	}
	if *roots == "" || set.NArg() != 1 {
		return errors.New("verify: -roots and one release folder are required")
	}
	return verify(set.Arg(0), *roots, out)
}

func verify(dir, roots string, out io.Writer) error {
	keys, err := release.ParsePublicKeys(roots)
	if err != nil {
		return err
	}
	m, _, err := release.VerifyDir(dir, release.Trust{Roots: keys, Now: time.Now()})
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	fmt.Fprintf(out, "release %s verified: %s\n", m.Version, strings.Join(m.PlatformNames(), ", "))
	return nil
}
