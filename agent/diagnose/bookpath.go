package diagnose

import (
	"fmt"
	"strings"
)

// driveKind is what Windows says of the drive a book's path is on.
type driveKind int

const (
	driveLocal   driveKind = iota // a local disk, or not Windows
	driveRemote                   // a drive letter mapped to a network share
	driveMissing                  // a drive letter this account does not have
	driveUNC                      // a network path, \\server\share\...
)

// pathAdvice is the warning a source check adds for a book or folder at
// path on a drive of kind, when the agent runs as a Windows service
// (service) or not; "" when there is nothing to say. Drive letters mapped
// to network shares belong to the user who mapped them: a service,
// running under its own account, does not see them. A network path works
// for a service only if its account may read the share (LocalSystem
// reaches it as the computer's account).
func pathAdvice(path string, kind driveKind, service bool) string {
	switch kind {
	case driveRemote:
		return fmt.Sprintf("%s is on %s, a mapped network drive: the agent's service does not see drives a user mapped "+
			"(it may fail after a restart or when nobody is logged in); bind the network path (\\\\server\\share\\...) instead",
			path, driveOf(path))
	case driveMissing:
		return fmt.Sprintf("drive %s does not exist for the account the agent runs as: if it is a network drive a user mapped, "+
			"bind the network path (\\\\server\\share\\...) instead", driveOf(path))
	case driveUNC:
		if service {
			return fmt.Sprintf("%s is on a network share: the agent's service account must be allowed to read it "+
				"(LocalSystem reaches it as the computer's account, DOMAIN\\COMPUTER$)", path)
		}
	}
	return ""
}

// driveOf is a path's drive letter with its colon ("Z:"), or "".
func driveOf(path string) string {
	p := strings.TrimPrefix(path, `\\?\`)
	if len(p) >= 2 && p[1] == ':' && (p[0] >= 'A' && p[0] <= 'Z' || p[0] >= 'a' && p[0] <= 'z') {
		return strings.ToUpper(p[:2])
	}
	return ""
}

// isUNC reports whether path is a network path (\\server\share\...,
// \\?\UNC\server\share\...).
func isUNC(path string) bool {
	p := strings.ReplaceAll(path, "/", `\`)
	if strings.HasPrefix(p, `\\?\UNC\`) {
		return true
	}
	return strings.HasPrefix(p, `\\`) && !strings.HasPrefix(p, `\\?\`) && !strings.HasPrefix(p, `\\.\`)
}
