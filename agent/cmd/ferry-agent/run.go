package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
)

func cmdRun(args []string, stderr io.Writer) error {
	fs, path := newFlags("run", stderr)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	log := newLogger(stderr, level)
	w, err := buildWorker(*path, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("agent starting", "version", version, "config", *path)
	err = w.Run(ctx)
	log.Info("agent stopped")
	return err
}

// buildWorker loads the config and opens every binding's source.
func buildWorker(path string, log *slog.Logger) (*worker.Worker, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	var bindings []worker.Binding
	for _, b := range cfg.Bindings {
		src, err := sources.Open(b.PlatformKey, b.Path)
		if err != nil {
			return nil, fmt.Errorf("binding %s: %w", b.ConnectionID, err)
		}
		bindings = append(bindings, worker.Binding{ConnectionID: b.ConnectionID, CompanyID: b.CompanyID, Source: src})
	}
	return worker.New(worker.Config{
		Coordinator: cfg.Coordinator, Credential: cfg.Credential, Bindings: bindings,
		Concurrency: cfg.Concurrency, Version: version, Logger: log, TLS: tc,
		HTTP:       upload.NewHTTPClient(log.With("subsystem", "upload"), tc),
		StatusFile: statusPath(path),
	}), nil
}

// statusPath is where a running agent writes its status: beside the config.
func statusPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "agent-status.json")
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func osName() string { return runtime.GOOS + "/" + runtime.GOARCH }
