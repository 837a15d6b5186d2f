//go:build !windows

package diagnose

import "os"

// openShared opens a file for reading; on Unix a reader never stops a
// writer from renaming over it.
func openShared(path string) (*os.File, error) { return os.Open(path) }
