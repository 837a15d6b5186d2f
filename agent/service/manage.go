package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Install creates the service account, checks that it can run the
// binary, reach the configuration and read every need (the bound books),
// registers the service (again, if it was: the registration always
// matches this binary) and gives the configuration to the service account
// alone. A path the account cannot reach is an *AccessError, and nothing
// is registered.
func (m *Manager) Install(reads []Need) error {
	if err := EnsureUser(m.settings.User); err != nil {
		return err
	}
	// The configuration's folder and file are given to the account below;
	// it must reach the folder, through those above it.
	needs := []Need{
		{Path: m.settings.Executable, What: "the agent binary", Exec: true},
		{Path: existingParent(filepath.Dir(m.settings.ConfigPath)), What: "the configuration's folder", Enter: true},
	}
	if err := CheckAccess(m.settings.User, append(needs, reads...)); err != nil {
		return err
	}
	if st, _ := m.Status(); st.Name != "not installed" {
		if err := m.Uninstall(); err != nil {
			return fmt.Errorf("replace the old registration: %w", err)
		}
	}
	if err := m.svc.Install(); err != nil {
		return fmt.Errorf("register the service: %w", err)
	}
	if err := PrepareConfig(m.settings.ConfigPath, m.settings.User); err != nil {
		return err
	}
	if err := PrepareLayout(filepath.Dir(m.settings.Executable), m.settings.User); err != nil {
		return err
	}
	config := m.settings.ConfigPath
	if _, err := os.Stat(config); err != nil {
		config = filepath.Dir(config)
	}
	return CheckAccess(m.settings.User, []Need{{Path: config, What: "the configuration"}})
}

// existingParent is the folder that holds dir: dir's parent, or the
// nearest folder above it that exists.
func existingParent(dir string) string {
	p := filepath.Dir(dir)
	for p != filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		p = filepath.Dir(p)
	}
	return p
}

// Secure sets up a service that another installer registered (the MSI's
// ServiceInstall table): the restart policy, the configuration's
// permissions, and the service account's access to the executable's
// folder for self-update (PrepareLayout).
func (m *Manager) Secure() error {
	if err := setRecovery(Name, m.settings.RestartDelay); err != nil {
		return err
	}
	if err := PrepareConfig(m.settings.ConfigPath, m.settings.User); err != nil {
		return err
	}
	return PrepareLayout(filepath.Dir(m.settings.Executable), m.settings.User)
}

// Uninstall stops the service if it runs and removes its registration.
// The configuration stays: the package manager's purge removes it.
func (m *Manager) Uninstall() error {
	if st, _ := m.Status(); st.Name == "running" || st.Name == "failing" {
		if err := m.svc.Stop(); err != nil {
			return fmt.Errorf("stop the service: %w", err)
		}
	}
	if err := m.svc.Uninstall(); err != nil {
		return fmt.Errorf("remove the service: %w", err)
	}
	return removeLeftovers()
}

// StartTimeout bounds how long start and restart wait for the agent's
// process to run.
const StartTimeout = 15 * time.Second

// startSettle is how long the agent's process must stay up to count as
// started: one that fails at once is not running.
const startSettle = time.Second

// Start and Restart ask the service manager, then wait until the agent's
// process runs (and stays up), or fail with what the manager reports.
func (m *Manager) Start() error {
	if err := m.svc.Start(); err != nil {
		return err
	}
	return m.waitRunning(StartTimeout)
}

func (m *Manager) Restart() error {
	if err := m.svc.Restart(); err != nil {
		return err
	}
	return m.waitRunning(StartTimeout)
}

// Stop asks the service manager.
func (m *Manager) Stop() error { return m.svc.Stop() }

// waitRunning polls the status until the same agent process has run for
// startSettle, or fails at the deadline with the last status.
func (m *Manager) waitRunning(within time.Duration) error {
	deadline := time.Now().Add(within)
	pid, since := -1, time.Time{}
	for {
		st, err := m.Status()
		if err == nil && st.Name == "running" {
			if st.PID != pid {
				pid, since = st.PID, time.Now()
			}
			if st.PID == 0 || time.Since(since) >= startSettle {
				return nil // PID 0: the manager does not say which; trust it
			}
		} else {
			pid = -1
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("the service did not start within %s: %w", within, err)
			}
			return fmt.Errorf("the service did not start within %s: %s", within, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// State is what the service manager reports, checked against the
// processes that really run.
type State struct {
	// Name is "running", "stopped", "failing" (registered and started, but
	// the agent's process does not stay up), "not installed" or "unknown".
	Name string
	// Detail says why it is not running, when known: the last error.
	Detail string
	// PID is the agent's process while it runs, when known.
	PID int
}

func (s State) String() string {
	if s.Detail == "" {
		return s.Name
	}
	return s.Name + ": " + s.Detail
}

// Status is the service's state: for SysV, the init script's answer and
// the supervisor's child; for systemd, the unit's active and sub state;
// elsewhere what kardianos/service reads from the manager.
func (m *Manager) Status() (State, error) {
	switch m.Platform() {
	case "unix-systemv":
		return sysvState(m.settings), nil
	case "linux-systemd":
		return systemdState()
	}
	st, err := m.svc.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return State{Name: "not installed"}, nil
	case err != nil:
		return State{Name: "unknown", Detail: err.Error()}, err
	case st == kservice.StatusRunning:
		return State{Name: "running"}, nil
	case st == kservice.StatusStopped:
		return State{Name: "stopped"}, nil
	}
	return State{Name: "unknown"}, nil
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
