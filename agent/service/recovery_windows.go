//go:build windows

package service

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// setRecovery makes Windows restart a service that an installer (the MSI)
// registered, as Install does through kardianos/service: after every
// failure, RestartDelay later, forgetting failures after a day.
func setRecovery(name string, delay time.Duration) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("open service %s: %w", name, err)
	}
	defer s.Close()
	actions := []mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: delay}, {Type: mgr.ServiceRestart, Delay: delay}, {Type: mgr.ServiceRestart, Delay: delay}}
	if err := s.SetRecoveryActions(actions, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("recovery actions: %w", err)
	}
	// The Event Log source the service logs under, as kardianos registers
	// it when it installs a service itself.
	err = eventlog.InstallAsEventCreate(name, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil && !strings.Contains(err.Error(), "exists") {
		return fmt.Errorf("event log source: %w", err)
	}
	return nil
}
