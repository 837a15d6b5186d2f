package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Group runs the agents of a file in processes of at most PerProcess
// agents each (the open-files limit is per process), re-executing the
// tool's own binary with AgentsMain's arguments.
type Group struct {
	File        string // the agents file
	Total       int    // how many agents the file holds
	PerProcess  int
	Coordinator string // URL the agents connect to
	Records     int
	// Big agents (indexes 0..Big-1) have BigRecords records a dataset.
	Big, BigRecords int
	Ramp            time.Duration
	// BackoffMax caps each agent's reconnect backoff; 0 is the agent's
	// own cap (a minute).
	BackoffMax time.Duration
	// OnEvent sees every fetch and close event, from the goroutine
	// reading that process.
	OnEvent func(Event)
	Stderr  io.Writer

	mu     sync.Mutex
	procs  []*agentProc
	online []int
}

type agentProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// Processes is how many agent processes the group runs.
func (g *Group) Processes() int { return (g.Total + g.PerProcess - 1) / g.PerProcess }

// Start runs every process.
func (g *Group) Start() error {
	g.procs = make([]*agentProc, g.Processes())
	g.online = make([]int, g.Processes())
	for i := range g.procs {
		if err := g.StartProcess(i); err != nil {
			return err
		}
	}
	return nil
}

// StartProcess (re)starts process i.
func (g *Group) StartProcess(i int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	from, to := i*g.PerProcess, min((i+1)*g.PerProcess, g.Total)
	cmd := exec.Command(exe, "agents", "-agents", g.File, "-from", strconv.Itoa(from), "-to", strconv.Itoa(to),
		"-coordinator", g.Coordinator, "-records", strconv.Itoa(g.Records), "-ramp", g.Ramp.String(),
		"-big", strconv.Itoa(g.Big), "-big-records", strconv.Itoa(g.BigRecords), "-backoff-max", g.BackoffMax.String())
	cmd.Stderr = g.Stderr
	dieWithParent(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start agent process %d: %w", i, err)
	}
	p := &agentProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	g.mu.Lock()
	g.procs[i], g.online[i] = p, 0
	g.mu.Unlock()
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			if ev.Kind == "online" {
				g.mu.Lock()
				if g.procs[i] == p {
					g.online[i] = ev.Online
				}
				g.mu.Unlock()
				continue
			}
			if g.OnEvent != nil {
				g.OnEvent(ev)
			}
		}
		_ = cmd.Wait()
		g.mu.Lock()
		if g.procs[i] == p {
			g.online[i] = 0
		}
		g.mu.Unlock()
	}()
	return nil
}

// Online is the number of agents connected, as their processes last said.
func (g *Group) Online() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, k := range g.online {
		n += k
	}
	return n
}

// KillProcess ends process i with SIGKILL and waits for it.
func (g *Group) KillProcess(i int) {
	g.mu.Lock()
	p := g.procs[i]
	g.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Pids lists the agent processes' ids.
func (g *Group) Pids() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for _, p := range g.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

// Pause stops every process (SIGSTOP) until Resume.
func (g *Group) Pause() error { return g.signal(sigStop) }

// Resume lets every paused process go on (SIGCONT).
func (g *Group) Resume() error { return g.signal(sigCont) }

// signal sends sig to every process.
func (g *Group) signal(sig syscall.Signal) error {
	for _, pid := range g.Pids() {
		if err := kill(pid, sig); err != nil {
			return fmt.Errorf("signal agent process %d: %w", pid, err)
		}
	}
	return nil
}

// Stop ends every process: standard input closes, and SIGKILL after 10 s.
func (g *Group) Stop() {
	g.mu.Lock()
	procs := append([]*agentProc(nil), g.procs...)
	g.mu.Unlock()
	for _, p := range procs {
		if p != nil {
			_ = p.stdin.Close()
		}
	}
	for _, p := range procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
}
