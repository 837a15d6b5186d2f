package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-sync/ferry/agent/bundle"
	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/service"
	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
)

func cmdRun(args []string, stderr io.Writer) error {
	fs, path := newFlags("run", stderr)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	asService := fs.Bool("service", false, "run as the system service: log to the system log, wait for a link")
	respawn := fs.Bool("respawn", false, "start the agent again whenever it exits (the SysV init script's restart policy)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	lv := new(slog.LevelVar) // support may raise it for a while
	lv.Set(level)
	log := newLogger(stderr, lv)
	if *asService {
		log = serviceLogger(log, lv)
	}
	if !*respawn {
		lf, err := bundle.OpenLogFile(*path)
		if err != nil {
			log.Info("no log file beside the config; support bundles will hold no log", "err", err)
		} else {
			defer lf.Close()
			log = slog.New(bundle.Tee(log.Handler(), slog.NewTextHandler(lf, &slog.HandlerOptions{Level: lv})))
		}
	}
	if *respawn {
		return superviseRun(args, *path, log)
	}
	if err := countStart(*path); err != nil {
		return err
	}
	if *asService {
		return service.Run(func(ctx context.Context) error { return runAgent(ctx, *path, log, lv, true) },
			func(err error) { log.Error("agent failed; the service manager will start it again", "err", err) })
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runAgent(ctx, *path, log, lv, false)
}

// runAgent runs the worker until ctx ends. As a service (waitLink) it first
// waits for a usable, linked config, so a freshly installed service idles
// until the end user runs ferry-agent link. When the config comes to name
// another coordinator or credential (link --replace), the worker is built
// afresh from it: a credential only ever goes to its own coordinator.
func runAgent(ctx context.Context, path string, log *slog.Logger, level *slog.LevelVar, waitLink bool) error {
	for {
		if waitLink && !waitLinked(ctx, path, log) {
			return nil
		}
		again, err := runWorker(ctx, path, log, level, waitLink || supervised())
		if !again {
			return err
		}
		log.Info("the config names another coordinator or credential now; starting the agent afresh")
	}
}

// runWorker runs one worker until ctx ends, or until the config's agent
// changes (true). restartable: something starts the agent again when it
// exits, so it may update itself.
func runWorker(ctx context.Context, path string, log *slog.Logger, level *slog.LevelVar, restartable bool) (bool, error) {
	w, id, err := buildWorker(path, log, level, restartable)
	if err != nil {
		return false, err
	}
	log.Info("agent starting", "version", version, "config", path)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var changed atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if watchConfig(ctx, path, id, w, log) {
			changed.Store(true)
			cancel()
		}
	}()
	err = w.Run(ctx)
	cancel() // the worker may return first: stop watching the config too
	wg.Wait()
	if changed.Load() {
		return true, nil
	}
	log.Info("agent stopped")
	return false, err
}

// agentIdentity is what a worker is built around and cannot change while
// it runs: where it connects and with what.
func agentIdentity(cfg config.Config) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%t\x00%d\x00%s\x00%s", cfg.Coordinator, cfg.Credential, cfg.CAFile, cfg.Insecure, cfg.Concurrency,
		cfg.Proxy, cfg.ProxyCredentialsFile)
}

// waitLinked polls the config until it is linked and valid; false when ctx
// ended first.
func waitLinked(ctx context.Context, path string, log *slog.Logger) bool {
	t := time.NewTicker(configPollInterval)
	defer t.Stop()
	said := ""
	for {
		cfg, err := config.Load(path)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			return true
		}
		if err.Error() != said {
			said = err.Error()
			log.Warn("not linked yet; waiting for: ferry-agent link --coordinator URL --code CODE --source SOURCE --path PATH", "config", path, "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// watchConfig reloads the bindings when the config file changes (a new
// `ferry-agent link` while the service runs), until ctx ends (false) or
// the config names another agent than id (true).
func watchConfig(ctx context.Context, path, id string, w *worker.Worker, log *slog.Logger) bool {
	stamp := func() string {
		st, err := os.Stat(path)
		if err != nil {
			return ""
		}
		return st.ModTime().String() + "/" + strconv.FormatInt(st.Size(), 10)
	}
	last := stamp()
	t := time.NewTicker(configPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		now := stamp()
		if now == last || now == "" {
			continue
		}
		last = now
		if cfg, err := config.Load(path); err == nil && cfg.Validate() == nil && agentIdentity(cfg) != id {
			return true
		}
		bs, err := openBindings(path)
		if err != nil {
			log.Error("config changed but cannot be used; keeping the old bindings", "err", err)
			continue
		}
		log.Info("config changed; reconnecting with the new bindings", "bindings", len(bs))
		w.SetBindings(bs)
	}
}

// configPollInterval is how often a running agent looks for a changed config.
const configPollInterval = 2 * time.Second

func openBindings(path string) ([]worker.Binding, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	var out []worker.Binding
	for _, b := range cfg.Bindings {
		src, err := sources.Open(b.PlatformKey, b.Path)
		if err != nil {
			return nil, fmt.Errorf("binding %s: %w", b.ConnectionID, err)
		}
		out = append(out, worker.Binding{ConnectionID: b.ConnectionID, CompanyID: b.CompanyID, Source: src})
	}
	return out, nil
}

// buildWorker loads the config and opens every binding's source; it
// returns the worker and the agentIdentity it was built on.
func buildWorker(path string, log *slog.Logger, level *slog.LevelVar, restartable bool) (*worker.Worker, string, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, "", err
	}
	if err := cfg.Validate(); err != nil {
		return nil, "", fmt.Errorf("config %s: %w", path, err)
	}
	route, err := transport.New(cfg, nil)
	if err != nil {
		return nil, "", err
	}
	if route.Proxy != nil {
		log.Info("connecting through a proxy", "proxy", route.Proxy.Redacted(), "from", route.ProxyFrom)
	}
	bindings, err := openBindings(path)
	if err != nil {
		return nil, "", err
	}
	checks := remoteChecks(path, cfg, route)
	up, err := newUpdater(path, cfg, route, restartable)
	if err != nil {
		return nil, "", err
	}
	wc := worker.Config{
		Coordinator: cfg.Coordinator, Credential: cfg.Credential, Bindings: bindings,
		Concurrency: cfg.Concurrency, Version: version, Logger: log, TLS: route.TLS,
		NetDial: route.DialContext, DialTLS: route.DialTLSContext,
		HTTP:       upload.NewHTTPClient(log.With("subsystem", "upload"), route.HTTPTransport()),
		StatusFile: statusPath(path),
		Checks:     checks,
		Bundle:     writeBundle(path, checks),
		Update:     up,
	}
	if level != nil {
		wc.LogLevel, wc.BaseLevel = level, level.Level()
	}
	if wc.BackoffMax, err = reconnectMax(); err != nil {
		return nil, "", err
	}
	return worker.New(wc), agentIdentity(cfg), nil
}

// reconnectMaxEnv caps the wait between attempts to reconnect to the
// coordinator (a minute when unset): tests that restart a coordinator set
// it short, so that the agent is back in seconds.
const reconnectMaxEnv = "FERRY_AGENT_RECONNECT_MAX"

// reconnectMax is reconnectMaxEnv's duration, 0 (the worker's default)
// when unset; it is at least the first wait, a second.
func reconnectMax() (time.Duration, error) {
	s := os.Getenv(reconnectMaxEnv)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%s=%q: want a duration of at least 1s", reconnectMaxEnv, s)
	}
	return d, nil
}

// statusPath is where a running agent writes its status: beside the config.
func statusPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "agent-status.json")
}
