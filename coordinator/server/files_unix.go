//go:build unix

package server

import "golang.org/x/sys/unix"

// openFilesLimit is the process's soft limit of open files (Go raises it
// to the hard limit at start).
func openFilesLimit() (uint64, bool) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return 0, false
	}
	return uint64(lim.Cur), true
}
