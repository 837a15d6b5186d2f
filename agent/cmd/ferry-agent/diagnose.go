package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/diagnose"
	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// errUnhealthy: a check failed; diagnose exits 1.
var errUnhealthy = errors.New("a check failed")

// cmdDiagnose runs the checks the coordinator's remote diagnostics run,
// here, plus the clock against the coordinator's, and prints them.
func cmdDiagnose(args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("diagnose", stderr)
	timeout := fs.Duration("timeout", 15*time.Second, "how long the checks may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	checks, err := diagnoseAll(ctx, *path, cfg)
	if err != nil {
		return err
	}
	return printChecks(stdout, checks)
}

// diagnoseAll is ferry-agent diagnose's report: the self-checks, then the
// path to the coordinator step by step, the clock against the
// coordinator's and the credential.
func diagnoseAll(ctx context.Context, configPath string, cfg config.Config) ([]protocol.Check, error) {
	checks := localChecks(configPath, cfg)(ctx)
	if cfg.Coordinator == "" {
		return checks, nil
	}
	route, err := transport.New(cfg, nil)
	if err != nil {
		return checks, err
	}
	path := diagnose.Path(ctx, diagnose.Route{Coordinator: cfg.Coordinator, Credential: cfg.Credential, Path: route})
	checks = append(checks, path...)
	if !slices.ContainsFunc(path, func(c protocol.Check) bool { return c.Name == protocol.CheckHTTP && c.Status != protocol.CheckFail }) {
		return checks, nil // the coordinator cannot be reached: nothing more to ask it
	}
	// Redirects are not followed: the credential goes to the config's
	// coordinator only (Go's client would send it on to another port).
	client := &http.Client{Timeout: 10 * time.Second, Transport: route.HTTPTransport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	return append(checks, diagnose.Clock(ctx, client, cfg.Coordinator),
		diagnose.Credential(ctx, client, cfg.Coordinator, cfg.Credential)), nil
}

// localChecks runs the self-checks over the bindings the config file holds
// when called, so a running agent reports the bindings it has now.
func localChecks(path string, fallback config.Config) func(context.Context) []protocol.Check {
	return func(ctx context.Context) []protocol.Check {
		cfg, err := config.Load(path)
		if err != nil {
			cfg = fallback
		}
		return diagnose.Run(ctx, diagnose.Config{Bindings: cfg.Bindings, Dir: filepath.Dir(path), Version: version})
	}
}

func printChecks(w io.Writer, checks []protocol.Check) error {
	failed := false
	for _, c := range checks {
		what := c.Name
		if c.ConnectionID != "" {
			what += " " + c.ConnectionID
		}
		fmt.Fprintf(w, "%-4s  %-45s  %s\n", c.Status, what, c.Message)
		failed = failed || c.Status == protocol.CheckFail
	}
	if failed {
		return errUnhealthy
	}
	return nil
}

// remoteChecks answers the coordinator's diagnose in a running agent: the
// self-checks and the path to the coordinator (which adds the clock).
func remoteChecks(configPath string, cfg config.Config, route *transport.Path) func(context.Context) []protocol.Check {
	local := localChecks(configPath, cfg)
	return func(ctx context.Context) []protocol.Check {
		return append(local(ctx), diagnose.Path(ctx, diagnose.Route{Coordinator: cfg.Coordinator, Path: route, Live: true})...)
	}
}
