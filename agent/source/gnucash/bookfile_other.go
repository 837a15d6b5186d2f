//go:build !windows

package gnucash

import "os"

// windowsPaths: SQLite URIs are built from Windows paths.
const windowsPaths = false

// OpenBookFile opens a book for reading (the connector, and diagnose
// checking it can). On Unix a reader never stands
// in GnuCash's way: a save that renames a new file over the book leaves
// the open file, the version being read, intact until it is closed.
func OpenBookFile(path string) (*os.File, error) { return os.Open(path) }
