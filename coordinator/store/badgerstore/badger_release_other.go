//go:build !linux

package badgerstore

// releaseFiles is a no-op off Linux: see badger_release_linux.go.
func releaseFiles(string) {}
