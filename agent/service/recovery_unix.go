//go:build !windows

package service

import "time"

// setRecovery: systemd units and the SysV script carry their own restart
// policy.
func setRecovery(string, time.Duration) error { return nil }
