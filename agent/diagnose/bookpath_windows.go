package diagnose

import (
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// pathKind asks Windows what drive path is on, and whether the agent runs
// as a service.
func pathKind(path string) (driveKind, bool) {
	service, _ := svc.IsWindowsService()
	if isUNC(path) {
		return driveUNC, service
	}
	d := driveOf(path)
	if d == "" {
		return driveLocal, service
	}
	root, err := windows.UTF16PtrFromString(d + `\`)
	if err != nil {
		return driveLocal, service
	}
	switch windows.GetDriveType(root) {
	case windows.DRIVE_REMOTE:
		return driveRemote, service
	case windows.DRIVE_NO_ROOT_DIR:
		return driveMissing, service
	}
	return driveLocal, service
}
