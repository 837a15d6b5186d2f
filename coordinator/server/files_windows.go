package server

// openFilesLimit: Windows has no per-process limit of open sockets and
// files to protect, so connections are not limited by default.
func openFilesLimit() (uint64, bool) { return 0, false }
