package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/service"
	"github.com/ferry-sync/ferry/agent/update"
	"github.com/ferry-sync/ferry/shared/platform"
)

// cmdService runs install, uninstall, start, stop and restart.
func cmdService(cmd string, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags(cmd, stderr)
	user := fs.String("user", service.DefaultUser, "the account the service runs as (install)")
	registered := fs.Bool("registered", false, "install: the service is already registered (by the MSI); only set its restart policy, the config's permissions and the service's access to the executable's folder (self-update)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := needAdmin(cmd); err != nil {
		return err
	}
	m, err := newManager(*path, *user)
	if err != nil {
		return err
	}
	switch cmd {
	case "install":
		if *registered {
			err = m.Secure()
		} else {
			err = install(m, *path)
		}
	case "uninstall":
		err = m.Uninstall()
	case "start":
		err = m.Start()
	case "stop":
		err = m.Stop()
	case "restart":
		err = m.Restart()
	}
	if err != nil {
		return fmt.Errorf("%s (%s): %w", cmd, m.Platform(), err)
	}
	fmt.Fprintf(stdout, "%s: done (%s).\n", cmd, m.Platform())
	if cmd == "install" {
		fmt.Fprintf(stdout, "The service runs as %s with the configuration %s.\nStart it with: ferry-agent start\n", *user, *path)
	}
	return nil
}

// install registers the service once its account can run the binary,
// reach the config and read every bound book or CSV folder.
func install(m *service.Manager, path string) error {
	var reads []service.Need
	cfg, err := config.Load(path)
	switch {
	case err == nil:
		for _, b := range cfg.Bindings {
			what := "the book of connection " + b.ConnectionID
			if b.PlatformKey == platform.CSV {
				what = "the CSV folder of connection " + b.ConnectionID
			}
			reads = append(reads, service.Need{Path: b.Path, What: what})
		}
	case !config.IsNotExist(err):
		return err
	}
	return m.Install(reads)
}

func newManager(configPath, user string) (*service.Manager, error) {
	exe, err := executable()
	if err != nil {
		return nil, err
	}
	// In the self-update layout the service runs the link, so that an
	// update takes effect at its next start.
	exe = update.ServicePath(exe)
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return nil, err
	}
	s := service.Default(exe, abs)
	if user != "" {
		s.User = user
	}
	if s.User == "" {
		return nil, errors.New("--user: an account is required")
	}
	return service.NewManager(s)
}
