package gnucash

import (
	"os"
	"syscall"
)

// windowsPaths: SQLite URIs are built from Windows paths.
const windowsPaths = true

// OpenBookFile opens a book for reading (the connector, and diagnose
// checking it can), sharing it with GnuCash for
// reading, writing and deleting: GnuCash saves an XML book by writing a
// new file and renaming it over the book, which Windows refuses while a
// reader holds the file without FILE_SHARE_DELETE (os.Open does not ask
// for it). The handle keeps reading the version it opened.
func OpenBookFile(path string) (*os.File, error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ,
		syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE,
		nil, syscall.OPEN_EXISTING, syscall.FILE_ATTRIBUTE_NORMAL|syscall.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
