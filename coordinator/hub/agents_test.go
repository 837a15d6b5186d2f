package hub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

type diagResult struct {
	rep DiagnosticsReport
	err error
}

// diagnose runs Diagnose in a goroutine the test waits for.
func (e *env) diagnose(ctx context.Context, agentID string) <-chan diagResult {
	out := make(chan diagResult, 1)
	go func() {
		rep, err := e.hub.Diagnose(ctx, agentID)
		out <- diagResult{rep, err}
	}()
	return out
}

func TestDiagnose(t *testing.T) {
	e := newEnv(t)
	if _, err := e.hub.Diagnose(t.Context(), "nobody"); !errors.Is(err, ErrOffline) {
		t.Fatalf("Diagnose of an unknown agent: %v, want ErrOffline", err)
	}
	conn, cred := e.linked()
	a, w := e.connect(cred, all(conn))

	// The agent answers, its clock two minutes ahead.
	res := e.diagnose(t.Context(), w.AgentID)
	ask := a.expect(protocol.TypeDiagnose)
	a.send(protocol.Message{Type: protocol.TypeDiagnostics, ID: uuid.NewString(), ReplyTo: ask.ID, Diagnostics: &protocol.Diagnostics{
		AgentVersion: "test", Hostname: "pc-1", OS: "linux", AgentTime: time.Now().Add(2 * time.Minute),
		Checks: []protocol.Check{{Name: protocol.CheckSource, ConnectionID: conn, Status: protocol.CheckPass}},
	}})
	got := <-res
	if got.err != nil {
		t.Fatalf("Diagnose: %v", got.err)
	}
	clock := got.rep.Checks[len(got.rep.Checks)-1]
	if skew := time.Duration(got.rep.ClockSkewMillis) * time.Millisecond; clock.Name != protocol.CheckClock || clock.Status != protocol.CheckWarn ||
		(skew-2*time.Minute).Abs() > 5*time.Second || got.rep.Checks[0].ConnectionID != conn {
		t.Errorf("report %+v: want the agent's check and a clock Warn for a skew of about 2m", got.rep)
	}

	// The agent says nothing: the caller's deadline ends the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	res = e.diagnose(ctx, w.AgentID)
	a.expect(protocol.TypeDiagnose)
	if got := <-res; !errors.Is(got.err, ErrNoAnswer) {
		t.Errorf("Diagnose without an answer: %v, want ErrNoAnswer", got.err)
	}

	// The agent goes away while the coordinator waits.
	res = e.diagnose(t.Context(), w.AgentID)
	a.expect(protocol.TypeDiagnose)
	a.ws.Close()
	if got := <-res; !errors.Is(got.err, ErrOffline) {
		t.Errorf("Diagnose of an agent that dropped: %v, want ErrOffline", got.err)
	}
}

// TestDisconnectReasons: how an agent's channel ends is the reason its
// Disconnected event gives.
func TestDisconnectReasons(t *testing.T) {
	tests := []struct {
		name string
		end  func(e *env, a *agent, agentID string)
		want string
	}{
		{"close frame", func(e *env, a *agent, _ string) {
			_ = a.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
		}, store.ReasonClosedByAgent},
		{"dropped", func(e *env, a *agent, _ string) { a.ws.UnderlyingConn().Close() }, store.ReasonConnectionLost},
		{"revoked", func(e *env, a *agent, id string) { e.hub.Disconnect(id, store.ReasonCredentialRevoked) }, store.ReasonCredentialRevoked},
		{"superseded", func(e *env, a *agent, _ string) { e.connect(a.cred, nil) }, store.ReasonSuperseded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			conn, cred := e.linked()
			a, w := e.connect(cred, all(conn))
			if live, ok := e.hub.Live(w.AgentID); !ok || len(live.Connections) != 1 || live.Connections[0] != conn || live.RemoteAddress == "" {
				t.Fatalf("Live = %+v, %v; want online serving %s", live, ok, conn)
			}
			if st, err := e.hub.AgentState(t.Context(), w.AgentID); err != nil || !st.Online || st.Agent.Hostname != "pc-1" || len(st.Connections) != 1 {
				t.Fatalf("AgentState = %+v, %v; want online, its hostname and connection", st, err)
			}
			tt.end(e, a, w.AgentID)
			var evs []store.AgentEvent
			deadline := time.Now().Add(10 * time.Second)
			for {
				var err error
				if evs, err = e.st.AgentEvents(t.Context(), w.AgentID); err != nil {
					t.Fatal(err)
				}
				if hasDisconnect(evs) || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			var got []string
			for _, ev := range evs {
				if ev.Type == store.EventDisconnected {
					got = append(got, ev.Reason)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("disconnect reasons %q, want [%q]", got, tt.want)
			}
			if tt.want != store.ReasonSuperseded {
				states, err := e.hub.AgentStates(t.Context())
				if err != nil || len(states) != 1 || states[0].Online {
					t.Errorf("AgentStates after the end = %+v, %v; want the agent offline", states, err)
				}
			}
			if evs[len(evs)-1].Type != store.EventConnected || evs[len(evs)-1].Detail != "version test" {
				t.Errorf("oldest event %+v, want Connected with the version", evs[len(evs)-1])
			}
		})
	}
}

func hasDisconnect(evs []store.AgentEvent) bool {
	for _, ev := range evs {
		if ev.Type == store.EventDisconnected {
			return true
		}
	}
	return false
}
