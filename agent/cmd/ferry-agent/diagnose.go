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
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/diagnose"
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
	checks := localChecks(*path, cfg)(ctx)
	if cfg.Coordinator != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return err
		}
		// Redirects are not followed: the credential goes to the config's
		// coordinator only (Go's client would send it on to another port).
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		checks = append(checks, diagnose.Clock(ctx, client, cfg.Coordinator),
			diagnose.Credential(ctx, client, cfg.Coordinator, cfg.Credential))
	}
	return printChecks(stdout, checks)
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
