package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/service"
	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/agent/update"
	"github.com/ferry-sync/ferry/shared/release"
)

// executable is this binary's path, links resolved: in the self-update
// layout, <root>/versions/V/ferry-agent.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}

// countStart is the first thing `run` does: a swap to this version still
// pending counts this start, and is rolled back when it is overdue or
// crash-looping (update.ErrRolledBack: exit, to be started again as the
// previous version).
func countStart(configPath string) error {
	exe, err := executable()
	if err != nil {
		return err
	}
	l, err := update.FindLayout(exe)
	if err != nil {
		return nil // not installed to update itself: nothing can be pending
	}
	st := &update.State{Dir: update.StateDir(configPath)}
	_, err = update.Started(st, l, version, time.Now())
	return err
}

// newUpdater is the agent's self-update on cfg's coordinator through
// route. restartable: something starts the agent again when it exits (a
// service manager, the `run --respawn` supervisor); without it the agent
// refuses updates, as it would not come back.
func newUpdater(configPath string, cfg config.Config, route *transport.Path, restartable bool) (*update.Updater, error) {
	st := &update.State{Dir: update.StateDir(configPath)}
	uc := update.Config{
		Version: version, Coordinator: cfg.Coordinator, Credential: cfg.Credential, ConfigPath: configPath, State: st,
		HTTP: &http.Client{Transport: route.HTTPTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	exe, err := executable()
	if err != nil {
		return nil, err
	}
	uc.Layout, uc.NoLayout = update.FindLayout(exe)
	if !restartable && uc.NoLayout == nil {
		uc.NoLayout = errors.New("the agent runs in the foreground, with no service manager or `run --respawn` supervisor to start the new version")
	}
	if uc.Roots, err = release.Roots(); err == nil && len(uc.Roots) == 0 && uc.NoLayout == nil {
		uc.NoLayout = errors.New("this build trusts no release root (it was not built by make release)")
	}
	if err != nil {
		return nil, err
	}
	p, err := st.Pending()
	if err != nil {
		return nil, err
	}
	if p != nil && p.To == version {
		uc.Pending = p
	}
	return update.New(uc), nil
}

// supervised: the `run --respawn` supervisor started this agent.
func supervised() bool { return os.Getenv(service.SupervisedEnv) != "" }
