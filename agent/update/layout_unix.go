//go:build !windows

package update

import (
	"os"
	"path/filepath"
)

// FindLayout is the layout the executable exe (resolved: os.Executable)
// runs from: exe is Root/versions/V/ferry-agent and Root/ferry-agent is a
// link. ErrNoLayout otherwise.
func FindLayout(exe string) (Layout, error) {
	versions := filepath.Dir(filepath.Dir(exe))
	l := Layout{Root: filepath.Dir(versions)}
	if filepath.Base(exe) != Name || filepath.Base(versions) != "versions" {
		return Layout{}, ErrNoLayout
	}
	if fi, err := os.Lstat(l.Link()); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return Layout{}, ErrNoLayout
	}
	return l, nil
}

// running is the link's target.
func (l Layout) running(string) (string, error) {
	t, err := os.Readlink(l.Link())
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(l.Root, t)
	}
	return t, nil
}

// swap switches the link to next; old stays where it is.
func (l Layout) swap(_, next string) error { return switchLink(l.Link(), next) }
