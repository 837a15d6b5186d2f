package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	kservice "github.com/kardianos/service"
)

// Manager registers, starts and stops the agent's service.
type Manager struct {
	settings Settings
	svc      kservice.Service
}

// NewManager is the manager for the service these settings describe.
func NewManager(s Settings) (*Manager, error) {
	svc, err := kservice.New(idle{}, s.Config())
	if err != nil {
		return nil, err
	}
	return &Manager{settings: s, svc: svc}, nil
}

// Platform names the service manager in use: windows-service,
// linux-systemd, unix-systemv, …
func (m *Manager) Platform() string { return m.svc.Platform() }

// Install creates the service account, registers the service (again, if
// it was: the registration always matches this binary) and gives the
// configuration to the service account alone.
func (m *Manager) Install() error {
	if err := EnsureUser(m.settings.User); err != nil {
		return err
	}
	if st, _ := m.Status(); st != "not installed" {
		if err := m.Uninstall(); err != nil {
			return fmt.Errorf("replace the old registration: %w", err)
		}
	}
	if err := m.svc.Install(); err != nil {
		return fmt.Errorf("register the service: %w", err)
	}
	return PrepareConfig(m.settings.ConfigPath, m.settings.User)
}

// Secure sets up a service that another installer registered (the MSI's
// ServiceInstall table): the restart policy and the configuration's
// permissions.
func (m *Manager) Secure() error {
	if err := setRecovery(Name, m.settings.RestartDelay); err != nil {
		return err
	}
	return PrepareConfig(m.settings.ConfigPath, m.settings.User)
}

// Uninstall stops the service if it runs and removes its registration.
// The configuration stays: the package manager's purge removes it.
func (m *Manager) Uninstall() error {
	if st, _ := m.Status(); st == "running" {
		if err := m.svc.Stop(); err != nil {
			return fmt.Errorf("stop the service: %w", err)
		}
	}
	if err := m.svc.Uninstall(); err != nil {
		return fmt.Errorf("remove the service: %w", err)
	}
	return removeLeftovers()
}

// Start, Stop and Restart ask the service manager.
func (m *Manager) Start() error   { return m.svc.Start() }
func (m *Manager) Stop() error    { return m.svc.Stop() }
func (m *Manager) Restart() error { return m.svc.Restart() }

// Status is "running", "stopped" or "not installed".
func (m *Manager) Status() (string, error) {
	if m.Platform() == "unix-systemv" {
		return sysvStatus()
	}
	st, err := m.svc.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return "not installed", nil
	case err != nil:
		return "unknown", err
	case st == kservice.StatusRunning:
		return "running", nil
	case st == kservice.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}

// sysvStatus asks the init script, which answers by exit code (LSB: 0
// running, 3 stopped).
func sysvStatus() (string, error) {
	script := "/etc/init.d/" + Name
	if _, err := os.Stat(script); err != nil {
		return "not installed", nil
	}
	if err := exec.Command(script, "status").Run(); err != nil {
		return "stopped", nil
	}
	return "running", nil
}

// idle is the program of a Manager, which never runs it.
type idle struct{}

func (idle) Start(kservice.Service) error { return nil }
func (idle) Stop(kservice.Service) error  { return nil }

// StopTimeout is how long a stopping service waits for the agent to finish.
const StopTimeout = 20 * time.Second

// Run runs fn as the service the manager started (a Windows service talks
// to the service control manager here; elsewhere the service waits for
// SIGTERM) until the service is stopped. fn returning while the service
// was not stopped is a failure: the process exits 1 so that the service
// manager's restart policy applies.
func Run(fn func(context.Context) error, onFailure func(error)) error {
	p := &program{fn: fn, onFailure: onFailure}
	svc, err := kservice.New(p, &kservice.Config{Name: Name})
	if err != nil {
		return err
	}
	return svc.Run()
}

type program struct {
	fn        func(context.Context) error
	onFailure func(error)
	cancel    context.CancelFunc
	done      chan struct{}
}

func (p *program) Start(kservice.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		err := p.fn(ctx)
		if ctx.Err() == nil {
			if err == nil {
				err = errors.New("the agent stopped by itself")
			}
			p.onFailure(err)
			os.Exit(1)
		}
	}()
	return nil
}

func (p *program) Stop(kservice.Service) error {
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-time.After(StopTimeout):
		return errors.New("the agent did not stop in time")
	}
}
