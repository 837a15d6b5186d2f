package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/worker"
)

// staleStatus is how old a "connected" status may be before status doubts
// it: four default heartbeats, or three of the agent's own if longer.
const staleStatus = time.Minute

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("status", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if m, err := newManager(*path, ""); err == nil {
		st, _ := m.Status()
		fmt.Fprintf(stdout, "service:     %s (%s)\n", st.Name, m.Platform())
		if st.Detail != "" {
			fmt.Fprintf(stdout, "             %s\n", st.Detail)
		}
	}
	cfg, err := config.Load(*path)
	if config.IsNotExist(err) {
		fmt.Fprintf(stdout, "config:      %s does not exist: not linked yet (ferry-agent link)\n", *path)
		return nil
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (the config belongs to the service account: sudo ferry-agent status)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "coordinator: %s\nagent:       %s\nbindings:\n", cfg.Coordinator, cfg.AgentID)
	for _, b := range cfg.Bindings {
		fmt.Fprintf(stdout, "  %s  company %s  %s %s\n", b.ConnectionID, b.CompanyID, b.PlatformKey, b.Path)
	}
	raw, err := os.ReadFile(statusPath(*path))
	if err != nil {
		fmt.Fprintln(stdout, "state:       not running (no status written yet)")
		return nil
	}
	var st worker.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("status file: %w", err)
	}
	state := "disconnected"
	switch {
	case st.Connected && time.Since(st.Updated) > max(staleStatus, 3*time.Duration(st.HeartbeatMillis)*time.Millisecond):
		// A running agent rewrites its status with every heartbeat.
		state = "unknown: no news for " + time.Since(st.Updated).Round(time.Second).String() + "; the agent may not be running"
	case st.Connected:
		state = fmt.Sprintf("connected since %s, round trip %d ms", st.ConnectedSince.Format(time.RFC3339), st.RTTMillis)
	}
	fmt.Fprintf(stdout, "state:       %s (as of %s)\n", state, st.Updated.Format(time.RFC3339))
	if st.LastError != "" {
		fmt.Fprintf(stdout, "last error:  %s\n", st.LastError)
	}
	for _, p := range st.InHand {
		fmt.Fprintf(stdout, "in hand:     dataset %s at %d%%\n", p.DatasetID, p.Progress)
	}
	return nil
}
