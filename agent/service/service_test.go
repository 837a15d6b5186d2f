package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func testSettings() Settings {
	s := Default("/usr/bin/ferry-agent", "/etc/ferry/agent.json")
	s.User = "ferry"
	return s
}

func TestSystemdUnitRunsAsTheServiceUserAndRestarts(t *testing.T) {
	unit := testSettings().SystemdUnit()
	for _, want := range []string{
		"User=ferry\n",
		"Group=ferry\n",
		"ExecStart=/usr/bin/ferry-agent run --service --config /etc/ferry/agent.json\n",
		"Restart=always\n",
		"RestartSec=5\n",
		"ReadWritePaths=/etc/ferry\n",
		"NoNewPrivileges=true\n",
		"After=network-online.target\n",
		"WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if got := testSettings().Config().Option["SystemdScript"]; got != unit {
		t.Errorf("kardianos gets a different unit:\n%v", got)
	}
}

func TestSysVScriptSupervisesAsTheServiceUser(t *testing.T) {
	script := testSettings().SysVScript()
	for _, want := range []string{
		"# Provides:          ferry-agent\n",
		"# Default-Start:     2 3 4 5\n",
		"DAEMON=/usr/bin/ferry-agent\n",
		"USER=ferry\n",
		`--chuid "$USER" --output "$LOG" --exec "$DAEMON" -- run --respawn --service --config /etc/ferry/agent.json`,
		`--retry TERM/30/KILL/5 --pidfile "$PIDFILE" --name "$NAME"`,
		"CONFIG_DIR=/etc/ferry\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	path := filepath.Join(t.TempDir(), "ferry-agent")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v %s", err, out)
	}
}

func TestOpenRCScriptSupervisesAsTheServiceUser(t *testing.T) {
	script := testSettings().OpenRCScript()
	for _, want := range []string{
		"#!/sbin/openrc-run\n",
		"supervisor=supervise-daemon\n",
		"command=/usr/bin/ferry-agent\n",
		`command_args="run --service --config /etc/ferry/agent.json"` + "\n",
		`command_user="ferry:ferry"` + "\n",
		"respawn_delay=5\n",
		"respawn_max=0\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if got := testSettings().Config().Option["OpenRCScript"]; got != script {
		t.Errorf("kardianos gets a different script:\n%v", got)
	}
}

// The Windows service: started at boot, restarted after every failure,
// arguments that make run a service.
func TestWindowsServiceSettings(t *testing.T) {
	s := Default(`C:\Program Files\Ferry\ferry-agent.exe`, `C:\ProgramData\Ferry\agent.json`)
	s.User = `NT SERVICE\ferry-agent`
	c := s.Config()
	if c.Name != "ferry-agent" || c.UserName != `NT SERVICE\ferry-agent` || c.Executable != s.Executable {
		t.Errorf("name %q user %q executable %q", c.Name, c.UserName, c.Executable)
	}
	if want := []string{"run", "--service", "--config", `C:\ProgramData\Ferry\agent.json`}; !slices.Equal(c.Arguments, want) {
		t.Errorf("arguments %q, want %q", c.Arguments, want)
	}
	want := map[string]any{
		"StartType": "automatic", "DelayedAutoStart": true, "OnFailure": "restart",
		"OnFailureDelayDuration": "5s", "OnFailureResetPeriod": 86400, "Restart": "always",
	}
	for k, v := range want {
		if got := c.Option[k]; got != v {
			t.Errorf("option %s = %v, want %v", k, got, v)
		}
	}
}

func TestQuoteArgs(t *testing.T) {
	got := quoteArgs([]string{"run", "--config", "/srv/my books/agent.json", "it's"})
	if want := `run --config '/srv/my books/agent.json' 'it'\''s'`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// fakeProc exits with exit, or when signalled if exit is nil.
type fakeProc struct {
	exit     error
	signaled chan os.Signal
}

func (p *fakeProc) Wait() error {
	if p.exit != nil {
		return p.exit
	}
	<-p.signaled
	return nil
}

func (p *fakeProc) Signal(s os.Signal) error { p.signaled <- s; return nil }
func (p *fakeProc) Pid() int                 { return 0 }

func TestSupervisorRestartsWithBackoffAndStopsTheAgent(t *testing.T) {
	var mu sync.Mutex
	var delays []time.Duration
	last := &fakeProc{signaled: make(chan os.Signal, 1)}
	procs := []*fakeProc{{exit: errors.New("exit status 1")}, {exit: errors.New("exit status 2")}, {exit: errors.New("killed")}, last}
	started := make(chan int, len(procs))
	n := 0
	fired := make(chan time.Time)
	close(fired)
	var order []string
	s := Supervisor{
		BeforeStart: func() { order = append(order, "check") },
		Start: func() (Proc, error) {
			order = append(order, "start")
			p := procs[n]
			n++
			started <- n
			return p, nil
		},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		MinDelay: time.Second, MaxDelay: 3 * time.Second, StableAfter: time.Minute,
		StateFile: filepath.Join(t.TempDir(), "agent-service.json"),
		After: func(d time.Duration) <-chan time.Time {
			mu.Lock()
			defer mu.Unlock()
			delays = append(delays, d)
			return fired
		},
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	for i := 1; i <= len(procs); i++ {
		if got := <-started; got != i {
			t.Fatalf("start %d, want %d", got, i)
		}
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if want := slices.Repeat([]string{"check", "start"}, len(procs)); !slices.Equal(order, want) {
		t.Errorf("calls %v, want the update's check before every start: %v", order, want)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(delays, want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
	st, err := ReadSupervisorState(s.StateFile)
	if err != nil || st.Restarts != 3 || st.PID != os.Getpid() || st.AgentPID != 0 {
		t.Errorf("supervisor state %+v (%v), want 3 restarts, this pid, no agent", st, err)
	}
}

// The supervisor starts the agent through the path it is given (the
// self-update layout's link), so a switched link takes effect at the next
// start, and tells the agent it is supervised.
func TestExecSelfStartsThroughTheLink(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ran")
	for _, v := range []string{"v1", "v2"} {
		script := "#!/bin/sh\necho " + v + " $" + SupervisedEnv + " \"$@\" > " + out + "\n"
		if err := os.WriteFile(filepath.Join(dir, v), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "ferry-agent")
	start := ExecSelf(link, []string{"run", "--config", "agent.json"})
	for _, v := range []string{"v1", "v2"} {
		_ = os.Remove(link)
		if err := os.Symlink(v, link); err != nil {
			t.Fatal(err)
		}
		p, err := start()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		if want := v + " 1 run --config agent.json\n"; string(got) != want {
			t.Errorf("the agent started wrote %q, want %q", got, want)
		}
	}
}

func TestLastLineWriter(t *testing.T) {
	var w lastLineWriter
	for _, p := range []string{"level=INFO msg=starting\nlevel=ERR", "OR msg=\"agent failed\" err=boom\n", "\n  \n"} {
		_, _ = w.Write([]byte(p))
	}
	if got, want := w.String(), `level=ERROR msg="agent failed" err=boom`; got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
}
