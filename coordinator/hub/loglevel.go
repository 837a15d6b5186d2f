package hub

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Log level from afar. Support raises an agent's log level for a while on
// any replica: the level and its end are stored on the agent
// (store.Agent.LogLevel, LogLevelUntil), and the change feed carries the
// change to the replica holding the agent's channel, which sends the
// agent logLevel with the time that remains. The agent falls back to its
// own level by itself when that time ends, and says so (an agent event).
// An agent that reconnects or restarts while the raised level lasts is
// sent it again, for what remains, when it connects: the coordinator's
// clock decides when the raised level ends.

// SetLogLevel raises an online agent's log level to level for d and
// records the change as an agent event. store.ErrNotFound when the agent
// is missing, ErrOffline when no replica holds its channel,
// ErrUnsupported when its version does not know logLevel.
func (h *Hub) SetLogLevel(ctx context.Context, agentID, level string, d time.Duration) (store.Agent, error) {
	a, err := h.st.Agent(ctx, agentID)
	if err != nil {
		return store.Agent{}, err
	}
	if !h.isOnline(ctx, agentID) {
		return store.Agent{}, ErrOffline
	}
	if !slices.Contains(a.Features, protocol.FeatureLogLevel) {
		return store.Agent{}, ErrUnsupported
	}
	until := h.now().UTC().Add(d)
	a, err = h.st.UpdateAgent(ctx, agentID, func(a *store.Agent) error {
		a.LogLevel, a.LogLevelUntil = level, until
		return nil
	})
	if err != nil {
		return store.Agent{}, err
	}
	h.event(store.AgentEvent{AgentID: agentID, Type: store.EventLogLevelChanged,
		Detail: fmt.Sprintf("%s for %s (until %s), asked by support", level, d, until.Format(time.RFC3339))})
	return a, nil
}

// sendLogLevel sends the agent its raised level, when its channel is here
// and the level has not ended.
func (h *Hub) sendLogLevel(l store.LogLevelChange) {
	c := h.local(l.AgentID)
	if c != nil {
		c.sendLogLevel(l.Level, l.Until)
	}
}

func (c *agentConn) sendLogLevel(level string, until time.Time) {
	left := until.Sub(c.h.now())
	if level == "" || left <= 0 || !slices.Contains(c.features, protocol.FeatureLogLevel) {
		return
	}
	c.enqueue(protocol.Message{Type: protocol.TypeLogLevel, ID: uuid.NewString(),
		LogLevel: &protocol.LogLevel{Level: level, ForMillis: max(left.Milliseconds(), 1)}})
}

// onLogLevel records the agent's report that its level changed (it fell
// back to its own) as an agent event, and acknowledges it.
func (c *agentConn) onLogLevel(m protocol.Message) {
	detail := "back to " + m.LogLevel.Level + ": the raised level's time ended"
	if m.LogLevel.ForMillis > 0 {
		detail = fmt.Sprintf("%s for %s, the agent says", m.LogLevel.Level, time.Duration(m.LogLevel.ForMillis)*time.Millisecond)
	}
	c.h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventLogLevelChanged, RemoteAddress: c.remote, Detail: detail})
	c.enqueue(protocol.Message{Type: protocol.TypeAck, ID: uuid.NewString(), ReplyTo: m.ID})
}
