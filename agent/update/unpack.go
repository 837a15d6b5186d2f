package update

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits of an archive's unpacked contents.
const (
	maxUnpacked = 512 << 20
	maxEntries  = 64
)

// errUnsafe: an archive entry would land outside its folder, is a link
// or a device, or the archive unpacks to more than maxUnpacked.
var errUnsafe = errors.New("unsafe archive")

// unpack writes the regular files of the archive at src (.tar.gz or .zip)
// into dir, each under its path with the top folder
// (ferry-agent-V-PLATFORM/) taken off. It refuses a path that escapes
// dir, a link, a device and more than maxUnpacked bytes in all.
func unpack(src, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if strings.HasSuffix(src, ".zip") {
		return unzip(src, dir)
	}
	return untar(src, dir)
}

func untar(src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(src), err)
	}
	tr := tar.NewReader(gz)
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(src), err)
		}
		if n >= maxEntries {
			return fmt.Errorf("more than %d entries: %w", maxEntries, errUnsafe)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return fmt.Errorf("%s is not a regular file (type %q): %w", h.Name, h.Typeflag, errUnsafe)
		}
		if total += h.Size; total > maxUnpacked {
			return fmt.Errorf("over %d bytes unpacked: %w", maxUnpacked, errUnsafe)
		}
		if err := writeEntry(dir, h.Name, h.FileInfo().Mode(), tr); err != nil {
			return err
		}
	}
}

func unzip(src, dir string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(src), err)
	}
	defer zr.Close()
	if len(zr.File) > maxEntries {
		return fmt.Errorf("more than %d entries: %w", maxEntries, errUnsafe)
	}
	var total int64
	for _, zf := range zr.File {
		mode := zf.Mode()
		if mode.IsDir() {
			continue
		}
		if !mode.IsRegular() {
			return fmt.Errorf("%s is not a regular file: %w", zf.Name, errUnsafe)
		}
		if total += int64(zf.UncompressedSize64); total > maxUnpacked || zf.UncompressedSize64 > maxUnpacked {
			return fmt.Errorf("over %d bytes unpacked: %w", maxUnpacked, errUnsafe)
		}
		r, err := zf.Open()
		if err != nil {
			return err
		}
		err = writeEntry(dir, zf.Name, mode, io.LimitReader(r, int64(zf.UncompressedSize64)))
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeEntry writes the archive entry name (its top folder taken off)
// into dir.
func writeEntry(dir, name string, mode os.FileMode, r io.Reader) error {
	clean := path.Clean(strings.ReplaceAll(name, `\`, "/"))
	_, rel, ok := strings.Cut(clean, "/")
	if !ok || !filepath.IsLocal(filepath.FromSlash(clean)) || rel == "" || !filepath.IsLocal(filepath.FromSlash(rel)) {
		return fmt.Errorf("entry %q is not a file inside the archive's folder: %w", name, errUnsafe)
	}
	dst := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm()|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
