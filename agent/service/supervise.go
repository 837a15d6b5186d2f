package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a started agent process.
type Proc interface {
	Wait() error
	Signal(os.Signal) error
	Pid() int
}

// SupervisorState is what a supervisor writes for status: the agent it
// runs, and why the last one ended or could not start.
type SupervisorState struct {
	// PID is the supervisor's own process id.
	PID        int       `json:"pid"`
	AgentPID   int       `json:"agentPid,omitempty"`
	AgentSince time.Time `json:"agentSince,omitzero"`
	Restarts   int       `json:"restarts"`
	LastError  string    `json:"lastError,omitempty"`
	Updated    time.Time `json:"updated"`
}

// ReadSupervisorState reads what a supervisor wrote.
func ReadSupervisorState(path string) (SupervisorState, error) {
	var st SupervisorState
	raw, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}

// SupervisorStatePath is where the supervisor of the agent with this
// configuration writes its state: beside the configuration, which the
// service account owns.
func SupervisorStatePath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "agent-service.json")
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
	// StateFile, when set, receives the SupervisorState as JSON.
	StateFile string
	// BeforeStart, when set, runs before each start (the self-update's
	// health check: agent/update.Supervise).
	BeforeStart func()

	state SupervisorState
}

// record updates the state and writes it, owner-only, through a
// temporary file.
func (s *Supervisor) record(fn func(*SupervisorState)) {
	fn(&s.state)
	if s.StateFile == "" {
		return
	}
	s.state.PID, s.state.Updated = os.Getpid(), time.Now().UTC()
	raw, _ := json.Marshal(s.state)
	tmp := s.StateFile + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		s.Log.Warn("write the supervisor's state", "err", err)
		return
	}
	_ = os.Rename(tmp, s.StateFile)
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
		if s.BeforeStart != nil {
			s.BeforeStart()
		}
		started := now()
		p, err := s.Start()
		if err != nil {
			s.record(func(st *SupervisorState) { st.AgentPID, st.LastError = 0, "start the agent: "+err.Error() })
			s.Log.Error("start the agent", "err", err, "retryIn", delay)
		} else {
			s.record(func(st *SupervisorState) { st.AgentPID, st.AgentSince = p.Pid(), now().UTC() })
			done := make(chan error, 1)
			go func() { done <- p.Wait() }()
			select {
			case <-ctx.Done():
				_ = p.Signal(syscall.SIGTERM)
				<-done
				s.record(func(st *SupervisorState) { st.AgentPID, st.LastError = 0, "" })
				return
			case err := <-done:
				if now().Sub(started) >= s.StableAfter {
					delay = s.MinDelay
				}
				s.record(func(st *SupervisorState) {
					st.AgentPID, st.Restarts, st.LastError = 0, st.Restarts+1, fmt.Sprintf("the agent exited: %v", err)
				})
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

// SupervisedEnv is set in the environment of an agent the supervisor
// started: it is started again when it exits.
const SupervisedEnv = "FERRY_AGENT_SUPERVISED"

// ExecSelf starts the agent at exe (the self-update layout's link, so
// that each start runs the version swapped in) with args, sharing its
// output. An exit's error carries the last line the agent wrote to
// standard error.
func ExecSelf(exe string, args []string) func() (Proc, error) {
	return func() (Proc, error) {
		tail := &lastLineWriter{}
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), SupervisedEnv+"=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, io.MultiWriter(os.Stderr, tail)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return execProc{cmd, tail}, nil
	}
}

type execProc struct {
	cmd  *exec.Cmd
	tail *lastLineWriter
}

func (p execProc) Wait() error {
	err := p.cmd.Wait()
	if line := p.tail.String(); err != nil && line != "" {
		return fmt.Errorf("%w; its last words: %s", err, line)
	}
	return err
}

func (p execProc) Signal(s os.Signal) error { return p.cmd.Process.Signal(s) }
func (p execProc) Pid() int                 { return p.cmd.Process.Pid }

// lastLineWriter keeps the last complete non-empty line written to it, at
// most maxLastLine bytes of it.
type lastLineWriter struct {
	mu   sync.Mutex
	cur  []byte
	last string
}

const maxLastLine = 1024

func (w *lastLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p {
		if b != '\n' {
			if len(w.cur) < maxLastLine {
				w.cur = append(w.cur, b)
			}
			continue
		}
		if line := strings.TrimSpace(string(w.cur)); line != "" {
			w.last = line
		}
		w.cur = w.cur[:0]
	}
	return len(p), nil
}

func (w *lastLineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}
