package service

import (
	"fmt"
	"path/filepath"
)

// OpenRCScript is the init script where OpenRC runs (Alpine, Gentoo), for
// the tarball: supervise-daemon drops to the service user and restarts the
// agent after a crash.
func (s Settings) OpenRCScript() string {
	return fmt.Sprintf(`#!/sbin/openrc-run
# Written by "ferry-agent install"; "ferry-agent uninstall" removes it.
description="Ferry connector agent"
supervisor=supervise-daemon
command=%[1]s
command_args="%[2]s"
command_user="%[3]s:%[3]s"
respawn_delay=%[4]d
respawn_max=0
output_log=%[5]s
error_log=%[5]s

depend() {
	need net
	use logger
}

start_pre() {
	checkpath --file --owner %[3]s:%[3]s --mode 0640 %[5]s
	checkpath --directory --owner %[3]s:%[3]s --mode 0700 %[6]s
}
`, s.Executable, quoteArgs(s.Arguments()), s.User, int(s.RestartDelay.Seconds()), LogFile, filepath.Dir(s.ConfigPath))
}
