package service

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a started agent process.
type Proc interface {
	Wait() error
	Signal(os.Signal) error
}

// Supervisor restarts the agent whenever it exits, until its context ends:
// the restart policy for service managers that have none (SysV init).
type Supervisor struct {
	Start func() (Proc, error)
	Log   *slog.Logger
	// MinDelay and MaxDelay bound the wait before a restart; it doubles
	// after each quick exit and falls back to MinDelay after a run longer
	// than StableAfter.
	MinDelay, MaxDelay, StableAfter time.Duration
	// Now and After are the clock (time.Now and time.After by default).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Run starts the agent and starts it again after every exit. When ctx ends
// it sends the agent SIGTERM, waits for it and returns.
func (s *Supervisor) Run(ctx context.Context) {
	now, after := s.Now, s.After
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	delay := s.MinDelay
	for {
		started := now()
		p, err := s.Start()
		if err != nil {
			s.Log.Error("start the agent", "err", err, "retryIn", delay)
		} else {
			done := make(chan error, 1)
			go func() { done <- p.Wait() }()
			select {
			case <-ctx.Done():
				_ = p.Signal(syscall.SIGTERM)
				<-done
				return
			case err := <-done:
				if now().Sub(started) >= s.StableAfter {
					delay = s.MinDelay
				}
				s.Log.Warn("the agent stopped; starting it again", "err", err, "in", delay)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-after(delay):
		}
		delay = min(2*delay, s.MaxDelay)
	}
}

// ExecSelf starts this executable again with args, sharing its output.
func ExecSelf(args []string) func() (Proc, error) {
	return func() (Proc, error) {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return execProc{cmd}, nil
	}
}

type execProc struct{ cmd *exec.Cmd }

func (p execProc) Wait() error              { return p.cmd.Wait() }
func (p execProc) Signal(s os.Signal) error { return p.cmd.Process.Signal(s) }
