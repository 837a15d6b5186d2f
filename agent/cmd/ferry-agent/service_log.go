package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/ferry-sync/ferry/agent/service"
	"github.com/ferry-sync/ferry/agent/update"
)

// serviceLogger is the system log when there is one, else fallback (the
// SysV script sends standard error to a log file).
func serviceLogger(fallback *slog.Logger, level slog.Leveler) *slog.Logger {
	h, err := service.SystemHandler(level)
	if err != nil {
		fallback.Info("no system log; logging to standard error", "err", err)
		return fallback
	}
	return slog.New(h)
}

// superviseRun is `run --respawn`: it runs `run` without --respawn as a
// child and starts it again whenever it exits, until SIGTERM.
func superviseRun(args []string, configPath string, log *slog.Logger) error {
	child := childArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exe, err := executable()
	if err != nil {
		return err
	}
	sup := service.Supervisor{
		Start: service.ExecSelf(update.ServicePath(exe), child), Log: log.With("subsystem", "supervisor"),
		MinDelay: time.Second, MaxDelay: time.Minute, StableAfter: time.Minute,
		StateFile: service.SupervisorStatePath(configPath),
	}
	if l, err := update.FindLayout(exe); err == nil {
		// The supervisor enforces an update's deadline even for a new
		// version that crashes before it can count its own starts.
		st := &update.State{Dir: update.StateDir(configPath)}
		sup.BeforeStart = func() {
			if rolled, err := update.Supervise(st, l, time.Now()); err != nil {
				log.Error("check the update in progress", "err", err)
			} else if rolled {
				log.Warn("the new version was not healthy in time; the previous version is put back")
			}
		}
	}
	log.Info("supervising the agent", "args", child)
	sup.Run(ctx)
	return nil
}

// childArgs is the command line of the supervised agent: run, with the
// same flags but --respawn.
func childArgs(args []string) []string {
	return append([]string{"run"}, slices.DeleteFunc(slices.Clone(args), func(a string) bool {
		return a == "--respawn" || a == "-respawn" || a == "--respawn=true" || a == "-respawn=true"
	})...)
}
