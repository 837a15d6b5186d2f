// Package releases is the coordinator's catalog of the agent's signed
// releases: the folders make release writes under DOWNLOADS/releases/
// (one per version: the archives, release.json, release.json.sig), each
// checked with shared/release against the trusted roots, for the API's
// list and the agents' downloads.
package releases

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/shared/release"
)

// Folder is the folder of the downloads directory that holds the
// releases, one folder each, named for its version.
const Folder = "releases"

// Release is one release found, and whether it may be offered.
type Release struct {
	// Version is the folder's name, which must be the manifest's version.
	Version string
	// Manifest is release.json as read (its zero value when unreadable).
	Manifest release.Manifest
	// Verified says every check passed; otherwise Reason is why not
	// (release.Reason, or "unreadable") and Err the whole error.
	Verified bool
	Reason   string
	Err      error
}

// Catalog finds and checks the releases in a downloads directory. Each
// List reads the folders afresh (a release added while the coordinator
// runs is found); an archive is hashed again only when its size or
// modification time changed.
type Catalog struct {
	dir   string
	roots []ed25519.PublicKey
	now   func() time.Time
	log   *slog.Logger

	mu sync.Mutex
	// revocations is the newest revocation list seen in any release: it
	// applies to them all, and a release carrying an older one undoes
	// nothing.
	revocations *release.Revocations
	// hashed are the archives whose size and hash matched, by path, with
	// the file's stamp then.
	hashed map[string]stamp
}

// stamp is what tells a file changed.
type stamp struct {
	size    int64
	modTime time.Time
	sha256  string
}

// New is a catalog of the releases under dir/releases/, trusting roots
// (release.Roots and those given). now is the clock; time.Now when nil.
func New(dir string, roots []ed25519.PublicKey, now func() time.Time, log *slog.Logger) *Catalog {
	if now == nil {
		now = time.Now
	}
	return &Catalog{dir: dir, roots: roots, now: now, log: log, hashed: map[string]stamp{}}
}

// List returns the releases found, newest version first, those whose
// folder is not a version last.
func (c *Catalog) List() ([]Release, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names, err := c.scan()
	if err != nil {
		return nil, err
	}
	out := make([]Release, 0, len(names))
	for _, name := range names {
		out = append(out, c.check(name))
	}
	slices.SortStableFunc(out, func(a, b Release) int {
		n, err := release.Compare(b.Version, a.Version)
		if err != nil {
			return boolCmp(release.CheckVersion(a.Version) != nil, release.CheckVersion(b.Version) != nil)
		}
		return n
	})
	return out, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Get returns the release of a version: verified or not, or false when
// there is no such folder.
func (c *Catalog) Get(version string) (Release, bool) {
	if release.CheckVersion(version) != nil {
		return Release{}, false
	}
	if _, err := os.Stat(filepath.Join(c.dir, Folder, version, release.ManifestFile)); err != nil {
		return Release{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.scan(); err != nil {
		return Release{Version: version, Reason: "unreadable", Err: err}, true
	}
	return c.check(version), true
}

// scan lists the release folders and learns the newest revocation list
// they carry; c.mu is held.
func (c *Catalog) scan() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(c.dir, Folder))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	c.learnRevocations(names)
	return names, nil
}

// File returns the path of a file of the verified release version, or
// false: an archive its manifest names, release.json or
// release.json.sig (which an agent checks itself before it trusts the
// archive).
func (c *Catalog) File(version, name string) (string, bool) {
	r, ok := c.Get(version)
	if !ok || !r.Verified {
		return "", false
	}
	if name == release.ManifestFile || name == release.SignatureFile {
		return filepath.Join(c.dir, Folder, version, name), true
	}
	for _, a := range r.Manifest.Platforms {
		if a.Name == name {
			return filepath.Join(c.dir, Folder, version, name), true
		}
	}
	return "", false
}

// learnRevocations keeps the newest revocation list, signed by a root,
// that a release's manifest carries.
func (c *Catalog) learnRevocations(names []string) {
	for _, name := range names {
		m, _, err := c.read(name)
		if err != nil || m.Revocations == nil {
			continue
		}
		r, err := release.OpenRevocations(*m.Revocations, c.roots)
		if err == nil && (c.revocations == nil || r.Serial > c.revocations.Serial) {
			c.revocations = &r
		}
	}
}

// read reads a release folder's manifest, decoded unchecked, and the
// bytes of it and of its signature.
func (c *Catalog) read(name string) (release.Manifest, [2][]byte, error) {
	var files [2][]byte
	var m release.Manifest
	for i, f := range []string{release.ManifestFile, release.SignatureFile} {
		b, err := os.ReadFile(filepath.Join(c.dir, Folder, name, f))
		if err != nil {
			return m, files, err
		}
		files[i] = b
	}
	if err := json.Unmarshal(files[0], &m); err != nil {
		return m, files, fmt.Errorf("%s: %v: %w", release.ManifestFile, err, release.ErrMalformed)
	}
	return m, files, nil
}

// check verifies the release in the folder name; c.mu is held.
func (c *Catalog) check(name string) Release {
	r := Release{Version: name}
	_, files, err := c.read(name)
	if err != nil {
		r.Reason, r.Err = "unreadable", err
		if release.Reason(err) != "" {
			r.Reason = release.Reason(err)
		}
		return r
	}
	m, _, err := release.VerifyManifest(files[0], files[1], release.Trust{Roots: c.roots, Revocations: c.revocations, Now: c.now()})
	r.Manifest = m
	if err == nil && m.Version != name {
		err = fmt.Errorf("folder %s holds release %s: %w", name, m.Version, release.ErrMalformed)
	}
	for _, p := range m.PlatformNames() {
		if err != nil {
			break
		}
		err = c.checkArchive(filepath.Join(c.dir, Folder, name, m.Platforms[p].Name), m.Platforms[p])
	}
	if err != nil {
		r.Reason, r.Err = release.Reason(err), err
		if r.Reason == "" {
			r.Reason = "unreadable"
		}
		return r
	}
	r.Verified = true
	return r
}

// checkArchive checks an archive's size and hash, unless it was found
// right with the same stamp before.
func (c *Catalog) checkArchive(path string, a release.Archive) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st := stamp{size: fi.Size(), modTime: fi.ModTime(), sha256: a.SHA256}
	if c.hashed[path] == st {
		return nil
	}
	delete(c.hashed, path)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := release.VerifyArchive(f, a); err != nil {
		c.log.Warn("release archive refused", "path", path, "err", err)
		return err
	}
	c.hashed[path] = st
	return nil
}
