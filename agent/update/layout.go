package update

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Layout is an install the agent can update itself in (Linux): every
// version side by side in Root/versions/X.Y.Z/, and Root/ferry-agent a
// symbolic link to the one that runs, which the service manager (or the
// `run --respawn` supervisor) executes. The link is switched by renaming a
// new link over it, which is atomic; the old version stays where it was,
// so a rollback is one more switch.
type Layout struct {
	Root string
}

// Name is the binary's file name.
var Name = "ferry-agent" + map[bool]string{true: ".exe"}[runtime.GOOS == "windows"]

// ErrNoLayout: the agent does not run from a Layout (a .deb's
// /usr/bin/ferry-agent, a binary copied by hand), so it does not update
// itself.
var ErrNoLayout = errors.New("this agent is not installed in the self-update layout (install.sh's <root>/versions/X.Y.Z/ferry-agent and the link <root>/ferry-agent); " +
	"an agent installed from the .deb is updated with apt, one installed by hand by installing the new version the same way")

// Link is the path the service executes: a link to the running version.
func (l Layout) Link() string { return filepath.Join(l.Root, Name) }

// Dir is where version v's files are unpacked.
func (l Layout) Dir(v string) string { return filepath.Join(l.Root, "versions", v) }

// Binary is version v's executable.
func (l Layout) Binary(v string) string { return filepath.Join(l.Dir(v), Name) }

// Running is where the binary of version v, which runs now, is after a
// swap, for a rollback to find it again.
func (l Layout) Running(v string) (string, error) { return l.running(v) }

// Swap makes binary next the one the service executes, the running one
// (old, from Running) kept where Running said: on Linux the link is
// switched; on Windows the running executable is renamed to old and
// next moved in. Swap(new, old) is the rollback.
func (l Layout) Swap(old, next string) error { return l.swap(old, next) }

// switchLink points link at binary: a new link beside it renamed over
// it, so the service finds either the old version or the new one, never
// none. The link is relative to its directory, so the root may be moved
// or mounted elsewhere.
func switchLink(link, binary string) error {
	rel, err := filepath.Rel(filepath.Dir(link), binary)
	if err != nil {
		return err
	}
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("switch to %s: %w", binary, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("switch to %s: %w", binary, err)
	}
	return syncDir(filepath.Dir(link))
}

// The Windows layout (layout_windows.go), kept here with no build tag so
// that its tests run on Linux files: the service executes Root's
// executable (Link) whichever version it is; a swap moves the running one
// into its version's folder (renameRunning) and the new one in
// (renameSwapIn).

// renameRunning is where a swap moves the running executable of version
// v: its versions folder.
func (l Layout) renameRunning(v string) string { return l.Binary(v) }

// renameSwapIn moves the running executable to old and next in its place.
func (l Layout) renameSwapIn(old, next string) error { return renameSwap(l.Link(), old, next) }

// renameSwap puts next at exe, the file there moved to old first: how
// Windows swaps, where a running executable may be renamed but not
// replaced or deleted. When next cannot be moved in, old is moved back.
func renameSwap(exe, old, next string) error {
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		return err
	}
	if err := os.Rename(exe, old); err != nil {
		return fmt.Errorf("move the running %s aside: %w", exe, err)
	}
	if err := os.Rename(next, exe); err != nil {
		return errors.Join(fmt.Errorf("move %s in: %w", next, err), os.Rename(old, exe))
	}
	return nil
}

// Prune removes every version but those of keep (binaries), the ones
// running and rolled back to.
func (l Layout) Prune(keep ...string) error {
	dir := filepath.Join(l.Root, "versions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		kept := false
		for _, k := range keep {
			kept = kept || filepath.Dir(k) == p
		}
		if !kept {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	return errors.Join(errs...)
}

// ServicePath is what a service manager should execute for the agent at
// exe (resolved): the layout's link when it runs from one, so a switch
// takes effect at the next start, else exe itself.
func ServicePath(exe string) string {
	if l, err := FindLayout(exe); err == nil {
		return l.Link()
	}
	return exe
}

// syncDir flushes a directory's entries (a rename) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}
