package service

import (
	"fmt"
	"path/filepath"
)

// LogFile is where the SysV script sends the agent's output when there is
// no syslog socket to write to.
const LogFile = "/var/log/ferry-agent.log"

// SysVScript is the init script installed where systemd does not run. SysV
// has no restart policy, so the script starts "run --respawn": a small
// supervisor (Supervise) that starts the agent again after a crash, as
// systemd's Restart=always does. start-stop-daemon drops to the service
// user before anything runs. The running supervisor is found by its pid
// file and process name, not by its executable: after a self-update the
// link DAEMON names points at a newer binary than the supervisor runs.
func (s Settings) SysVScript() string {
	return fmt.Sprintf(`#!/bin/sh
### BEGIN INIT INFO
# Provides:          %[1]s
# Required-Start:    $network $remote_fs $syslog
# Required-Stop:     $network $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Ferry connector agent
# Description:       Syncs local accounting data to a Ferry coordinator.
### END INIT INFO
# Written by "ferry-agent install"; "ferry-agent uninstall" removes it.

NAME=%[1]s
DAEMON=%[2]s
USER=%[3]s
PIDFILE=/run/%[1]s.pid
LOG=%[4]s
CONFIG_DIR=%[6]s

[ -x "$DAEMON" ] || exit 5

running() {
	start-stop-daemon --status --pidfile "$PIDFILE" --name "$NAME"
}

case "$1" in
start)
	if running; then echo "$NAME is already running"; exit 0; fi
	touch "$LOG" && chown "$USER" "$LOG" && chmod 0640 "$LOG"
	[ -d "$CONFIG_DIR" ] || install -d -m 0700 -o "$USER" "$CONFIG_DIR"
	echo "Starting $NAME"
	start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$PIDFILE" \
		--chuid "$USER" --output "$LOG" --exec "$DAEMON" -- run --respawn %[5]s
	;;
stop)
	echo "Stopping $NAME"
	start-stop-daemon --stop --quiet --retry TERM/30/KILL/5 --pidfile "$PIDFILE" --name "$NAME"
	rc=$?
	rm -f "$PIDFILE"
	[ $rc -le 1 ] || exit 1
	;;
restart|force-reload)
	"$0" stop && "$0" start
	;;
status)
	if running; then echo "Running"; else echo "Stopped"; exit 3; fi
	;;
*)
	echo "Usage: $0 {start|stop|restart|force-reload|status}" >&2
	exit 2
	;;
esac
exit 0
`, Name, s.Executable, s.User, LogFile, quoteArgs(s.Arguments()[1:]), filepath.Dir(s.ConfigPath))
}
