//go:build !windows

package service

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// PIDFile is where the SysV script keeps the supervisor's process id.
const PIDFile = "/run/" + Name + ".pid"

// sysvState asks the init script whether the supervisor (run --respawn)
// runs, then looks at what really runs: the supervisor's child, the
// agent. A supervisor whose agent cannot start (the binary cannot be run,
// say) is "failing", with the supervisor's last error.
func sysvState(s Settings) State {
	script := "/etc/init.d/" + Name
	if _, err := os.Stat(script); err != nil {
		return State{Name: "not installed"}
	}
	pid := readPID(PIDFile)
	if exec.Command(script, "status").Run() != nil {
		st := State{Name: "stopped"}
		if pid > 0 {
			// The script's stop removes the pid file: this one ended
			// without a stop, or never started.
			st.Detail = "it ended without a stop, or could not start"
			if line := lastLine(LogFile); line != "" {
				st.Detail += "; the last line of " + LogFile + ": " + line
			} else {
				st.Detail += "; see " + LogFile + " (as root) or the system log"
			}
		}
		return st
	}
	if child := agentChild(pid); child > 0 {
		return State{Name: "running", PID: child}
	}
	st := State{Name: "failing", Detail: "the supervisor runs, but the agent's process does not"}
	if sup, err := ReadSupervisorState(SupervisorStatePath(s.ConfigPath)); err == nil && sup.PID == pid && sup.LastError != "" {
		st.Detail += ": " + sup.LastError
	} else {
		st.Detail += "; see " + LogFile + " or the system log"
	}
	return st
}

func readPID(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid
}

// agentChild is a live child of the supervisor pid that runs a program of
// its own (its command line is not the supervisor's: a child that could
// not exec does not count); 0 when there is none.
func agentChild(pid int) int {
	if pid <= 0 {
		return 0
	}
	own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		ppid, state, ok := procStat(p)
		if !ok || ppid != pid || state == "Z" {
			continue
		}
		dir := filepath.Dir(p)
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil || len(cmdline) == 0 || bytes.Equal(cmdline, own) {
			continue
		}
		child, _ := strconv.Atoi(filepath.Base(dir))
		return child
	}
	return 0
}

// procStat reads the parent pid and state from /proc/PID/stat, whose
// second field (the command, in parentheses) may hold anything.
func procStat(path string) (ppid int, state string, ok bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, "", false
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// lastLine is the last non-empty line of the file's last 4 KiB; "" when
// it cannot be read.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 4096 {
		_, _ = f.Seek(-4096, io.SeekEnd)
	}
	raw, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// systemdState reads the unit's states: running only when active and its
// main process runs; a unit restarting after failures, or failed, is
// "failing" with its last result.
func systemdState() (State, error) {
	out, err := exec.Command("systemctl", "show", Name,
		"--property=LoadState,ActiveState,SubState,Result,MainPID,ExecMainStatus").Output()
	if err != nil {
		return State{Name: "unknown", Detail: err.Error()}, fmt.Errorf("systemctl show: %w", err)
	}
	return parseSystemdShow(string(out)), nil
}

// parseSystemdShow reads `systemctl show`'s properties as a State.
func parseSystemdShow(out string) State {
	p := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			p[k] = v
		}
	}
	pid, _ := strconv.Atoi(p["MainPID"])
	switch {
	case p["LoadState"] == "not-found":
		return State{Name: "not installed"}
	case p["ActiveState"] == "active" && p["SubState"] == "running" && pid > 0:
		return State{Name: "running", PID: pid}
	case p["ActiveState"] == "inactive":
		return State{Name: "stopped"}
	case p["ActiveState"] == "failed" || p["SubState"] == "auto-restart":
		return State{Name: "failing", Detail: fmt.Sprintf("%s (%s): result %s, exit status %s; see: journalctl -u %s",
			p["ActiveState"], p["SubState"], p["Result"], p["ExecMainStatus"], Name)}
	}
	return State{Name: p["ActiveState"], Detail: p["SubState"]}
}
