package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/ferry-sync/ferry/agent/bundle"
	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// cmdBundle writes the support bundle the coordinator would get, to a
// file: for a machine that cannot reach the coordinator.
func cmdBundle(args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("bundle", stderr)
	out := fs.String("out", "", "the file to write the bundle to (a .tar.gz)")
	timeout := fs.Duration("timeout", time.Minute, "how long collecting may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("out: a file to write the bundle to is required (--out FILE)")
	}
	cfg, err := config.Load(*path)
	if err != nil && !config.IsNotExist(err) {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// The whole of ferry-agent diagnose, the path to the coordinator too:
	// on a machine that cannot reach it, that is what support needs most.
	checks := func(ctx context.Context) []protocol.Check {
		c, err := diagnoseAll(ctx, *path, cfg)
		if err != nil {
			c = append(c, protocol.Check{Name: protocol.CheckProxy, Status: protocol.CheckFail, Message: err.Error()})
		}
		return c
	}
	var buf bytes.Buffer
	if err := writeBundle(*path, checks)(ctx, &buf); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	fmt.Fprintf(stdout, "support bundle written to %s (%d bytes); it holds no credential and no book contents\n", *out, buf.Len())
	return nil
}

// writeBundle collects the agent's support bundle (agent/bundle) with the
// diagnostics checks gives.
func writeBundle(path string, checks func(context.Context) []protocol.Check) func(ctx context.Context, w io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		return bundle.Write(ctx, w, bundle.Input{ConfigPath: path, Version: version, Checks: checks, Now: time.Now()})
	}
}
