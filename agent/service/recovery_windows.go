//go:build windows

package service

import (
	"fmt"
	"time"

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
	return s.SetRecoveryActions(actions, uint32((24 * time.Hour).Seconds()))
}
