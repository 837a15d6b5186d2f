//go:build !windows

package gnucash

import "os"

// windowsPaths: SQLite URIs are built from Windows paths.
const windowsPaths = false

// openBookFile opens the book for reading. On Unix a reader never stands
// in GnuCash's way: a save that renames a new file over the book leaves
// the open file, the version being read, intact until it is closed.
func openBookFile(path string) (*os.File, error) { return os.Open(path) }
