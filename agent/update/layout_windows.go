package update

import "path/filepath"

// FindLayout on Windows is the folder of the executable exe
// (ferry-agent.exe), which the installer made writable by the service
// account: versions are unpacked in Root\versions\V\, and a swap renames
// the running executable aside and moves the new one in.
func FindLayout(exe string) (Layout, error) {
	if filepath.Base(exe) != Name {
		return Layout{}, ErrNoLayout
	}
	return Layout{Root: filepath.Dir(exe)}, nil
}

// running is where a swap moves the running executable of version v.
func (l Layout) running(v string) (string, error) { return l.renameRunning(v), nil }

// swap moves the running executable to old and next in its place.
func (l Layout) swap(old, next string) error { return l.renameSwapIn(old, next) }
