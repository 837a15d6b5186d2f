//go:build !windows

package diagnose

// pathKind: drive letters and service accounts are Windows matters.
func pathKind(string) (driveKind, bool) { return driveLocal, false }
