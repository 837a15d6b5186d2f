package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

func TestAgentConnectivity(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	conn := func(min int) store.AgentEvent {
		return store.AgentEvent{ID: fmt.Sprintf("c%03d", min), At: m(min), Type: store.EventConnected}
	}
	disc := func(min int, reason string) store.AgentEvent {
		return store.AgentEvent{ID: fmt.Sprintf("d%03d", min), At: m(min), Type: store.EventDisconnected, Reason: reason}
	}
	every := func(from, to int) (out []time.Time) {
		for i := from; i <= to; i++ {
			out = append(out, m(i))
		}
		return out
	}
	tests := []struct {
		name        string
		events      []store.AgentEvent
		alive       []time.Time
		onlineNow   bool
		want        string
		uptime      string
		disconnects int
	}{
		{"connect, heartbeat timeout, connect",
			[]store.AgentEvent{conn(10), disc(20, store.ReasonHeartbeatTimeout), conn(40)}, nil, true,
			"Unknown 0-10 (agent connected); Online 10-20 (heartbeat timeout); Offline 20-40 (agent connected); Online 40-100", "77.8", 1},
		{"closed by agent, then lost",
			[]store.AgentEvent{conn(0), disc(30, store.ReasonClosedByAgent), conn(50), disc(70, store.ReasonConnectionLost)}, nil, false,
			"Online 0-30 (closed by agent); Offline 30-50 (agent connected); Online 50-70 (connection lost); Offline 70-100", "50.0", 2},
		{"supersession, either order, is one online span",
			[]store.AgentEvent{conn(0), conn(30), disc(31, store.ReasonSuperseded), disc(60, store.ReasonSuperseded), conn(60)}, nil, true,
			"Online 0-100", "100.0", 0},
		{"clean coordinator stop is unknown, not a disconnect",
			[]store.AgentEvent{conn(0), disc(30, store.ReasonShutdown), conn(45)}, nil, true,
			"Online 0-30 (coordinator shutting down); Unknown 30-45 (agent connected); Online 45-100", "100.0", 0},
		{"coordinator crash: online until the last sample, then unknown",
			[]store.AgentEvent{conn(0), conn(50)}, every(1, 20), true,
			"Online 0-20 (coordinator stopped (no disconnect recorded)); Unknown 20-50 (agent connected); Online 50-100", "100.0", 0},
		{"quick coordinator restart is invisible",
			[]store.AgentEvent{conn(0), conn(21)}, every(1, 20), true,
			"Online 0-100", "100.0", 0},
		{"coordinator gone at the end of the range",
			[]store.AgentEvent{conn(0)}, every(1, 40), false,
			"Online 0-40 (coordinator stopped (no disconnect recorded)); Unknown 40-100", "100.0", 0},
		{"events before the range set its first state",
			[]store.AgentEvent{conn(-50), disc(-10, store.ReasonHeartbeatTimeout), conn(25)}, nil, true,
			"Offline 0-25 (agent connected); Online 25-100", "75.0", 0},
		{"no events", nil, nil, false, "Unknown 0-100", "-", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := AgentConnectivity(ConnectivityInput{Events: tt.events, Alive: tt.alive, Created: m(-1000),
				From: m(0), To: m(100), Now: m(100), OnlineNow: tt.onlineNow})
			var parts []string
			for _, iv := range c.Intervals {
				s := fmt.Sprintf("%s %d-%d", iv.State, int(iv.Start.Sub(t0).Minutes()), int(iv.End.Sub(t0).Minutes()))
				if iv.EndReason != "" {
					s += " (" + iv.EndReason + ")"
				}
				parts = append(parts, s)
			}
			if got := strings.Join(parts, "; "); got != tt.want {
				t.Errorf("intervals:\n got %s\nwant %s", got, tt.want)
			}
			up := "-"
			if p, ok := c.UptimePercent(); ok {
				up = fmt.Sprintf("%.1f", p)
			}
			if up != tt.uptime || c.Disconnects != tt.disconnects {
				t.Errorf("uptime %s, disconnects %d; want %s, %d", up, c.Disconnects, tt.uptime, tt.disconnects)
			}
		})
	}
}
