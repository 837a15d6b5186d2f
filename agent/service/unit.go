package service

import (
	"fmt"
	"path/filepath"
)

// SystemdUnit is the unit installed where systemd runs: the agent as the
// service user, restarted whenever it stops, confined to what it needs
// (its config directory writable, the rest of the system read-only).
func (s Settings) SystemdUnit() string {
	return fmt.Sprintf(`[Unit]
Description=Ferry connector agent
Documentation=https://github.com/ferry-sync/ferry
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=%[1]s
Group=%[1]s
ExecStart=%[2]s %[3]s
Restart=always
RestartSec=%[4]d
NoNewPrivileges=true
ProtectSystem=full
ProtectHome=read-only
PrivateTmp=true
ReadWritePaths=%[5]s

[Install]
WantedBy=multi-user.target
`, s.User, s.Executable, quoteArgs(s.Arguments()), int(s.RestartDelay.Seconds()), filepath.Dir(s.ConfigPath))
}
