package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/diagnose"
	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// cmdSelfTest is what an update runs of a new binary before it swaps it
// in: it reads the config, opens each bound book read-only as a sync
// would, and reaches the coordinator with the credential (without taking
// the running agent's control channel), within --timeout. Exit 0: the
// binary can run here.
func cmdSelfTest(args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("selftest", stderr)
	timeout := fs.Duration("timeout", 45*time.Second, "how long the self-test may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := selfTest(ctx, *path); err != nil {
		return fmt.Errorf("selftest: %w", err)
	}
	fmt.Fprintf(stdout, "ferry-agent %s: self-test passed\n", version)
	return nil
}

func selfTest(ctx context.Context, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for _, b := range cfg.Bindings {
		if err := openBook(ctx, b); err != nil {
			return fmt.Errorf("binding %s: %w", b.ConnectionID, err)
		}
	}
	route, err := transport.New(cfg, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: route.HTTPTransport()}
	defer client.CloseIdleConnections()
	if c := diagnose.Credential(ctx, client, cfg.Coordinator, cfg.Credential); c.Status == protocol.CheckFail {
		return errors.New(c.Message)
	}
	return nil
}

// openBook opens a binding's source and its first data type, as a sync's
// Fetching does (read-only), and closes it without reading the records.
func openBook(ctx context.Context, b config.Binding) error {
	src, err := sources.Open(b.PlatformKey, b.Path)
	if err != nil {
		return err
	}
	types := src.DataTypes()
	if len(types) == 0 {
		return nil
	}
	batch, err := src.Fetch(ctx, types[0])
	if err != nil {
		return err
	}
	return batch.Close()
}
