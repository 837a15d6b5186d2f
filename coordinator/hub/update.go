package hub

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Updates. The leader's rollout asks an agent for an update by storing
// it on the agent (store.Agent.UpdateAsk), on any replica: the change
// feed carries the ask to the replica holding the agent's channel, which
// sends the agent update, and an agent that connects is sent the ask it
// has not answered (rules.UpdateOnConnect). Only an agent whose hello
// listed protocol.FeatureUpdate is sent one. Its answer: ack (its
// UpdateStarted report follows), error CodeBusy (the rollout asks again
// later), or error CodeUpdateRefused, which is kept as the agent's last
// update, Failed, with an UpdateFailed event. Each updateStatus is kept
// as the agent's last update (store.Agent.Update) and recorded as the
// agent event of its name, which sends agent.update.* webhooks; a report
// taken already is acknowledged again without a second event.

// DefaultUpdateHealth is Config.UpdateHealth's default.
const DefaultUpdateHealth = 2 * time.Minute

// errReported ends the store write of a report taken already.
var errReported = errors.New("update report taken already")

// sendUpdate sends the agent the update the change asked of it, when its
// channel is here.
func (h *Hub) sendUpdate(u store.UpdateChange) {
	c := h.local(u.AgentID)
	if c != nil {
		c.sendUpdate(u.Version, u.Reason)
	}
}

// sendUpdate sends the agent update, when it understands it, and notes
// the message so that its answer is known: the one place an update is
// sent. It returns the message's id, "" when nothing was sent.
func (c *agentConn) sendUpdate(version, reason string) string {
	if !slices.Contains(c.features, protocol.FeatureUpdate) {
		return ""
	}
	m := protocol.Message{Type: protocol.TypeUpdate, ID: uuid.NewString(), Update: &protocol.Update{
		Version: version, HealthMillis: c.h.cfg.UpdateHealth.Milliseconds(), Reason: reason}}
	c.mu.Lock()
	if c.updates == nil {
		c.updates = map[string]string{}
	}
	if len(c.updates) >= maxUpdatesSent {
		clear(c.updates)
	}
	c.updates[m.ID] = version
	c.mu.Unlock()
	c.logger().Info("update sent", "version", version, "reason", reason)
	c.enqueue(m)
	return m.ID
}

// maxUpdatesSent bounds the update messages a connection remembers the
// answer of: an agent that never answers cannot grow the map.
const maxUpdatesSent = 16

// onAnswer takes the agent's ack or error; only the answers to update
// messages need anything done.
func (c *agentConn) onAnswer(m protocol.Message) {
	c.mu.Lock()
	version, ok := c.updates[m.ReplyTo]
	delete(c.updates, m.ReplyTo)
	c.mu.Unlock()
	if !ok || m.Type != protocol.TypeError {
		return
	}
	switch m.Error.Code {
	case protocol.CodeBusy:
		c.logger().Info("update postponed: the agent is busy", "version", version, "message", m.Error.Message)
	case protocol.CodeUpdateRefused:
		c.logger().Warn("update refused", "version", version, "message", m.Error.Message)
		c.takeUpdate(func(a *store.Agent) bool { return rules.RefuseUpdate(a, version, m.Error.Message, c.h.now()) })
	default:
		c.logger().Warn("update answered with an error", "version", version, "code", m.Error.Code, "message", m.Error.Message)
	}
}

// onUpdateStatus keeps the agent's report and acknowledges it; a report
// that cannot be stored is refused, and the agent sends it again.
func (c *agentConn) onUpdateStatus(m protocol.Message) {
	s := *m.UpdateStatus
	if err := c.takeUpdate(func(a *store.Agent) bool { return rules.ReportUpdate(a, s, c.h.now()) }); err != nil {
		c.refuse(m, err)
		return
	}
	c.enqueue(protocol.Message{Type: protocol.TypeAck, ID: uuid.NewString(), ReplyTo: m.ID})
}

// takeUpdate stores what report does to the agent and, when it changed
// its last update, records the agent event of that update's status.
func (c *agentConn) takeUpdate(report func(*store.Agent) bool) error {
	ctx, cancel := context.WithTimeout(c.h.ctx, 30*time.Second)
	defer cancel()
	a, err := c.h.st.UpdateAgent(ctx, c.agentID, func(a *store.Agent) error {
		if !report(a) {
			return errReported
		}
		return nil
	})
	if errors.Is(err, errReported) {
		return nil
	}
	if err != nil {
		c.logger().Error("store update report", "err", err)
		return err
	}
	u := *a.Update
	var conns []string
	if cs, err := c.h.st.AgentConnections(ctx, c.agentID); err == nil {
		for _, cn := range cs {
			conns = append(conns, cn.ID)
		}
	}
	c.logger().Info("update report", "version", u.Version, "status", u.Status, "step", u.Step, "reason", u.Reason)
	// The event is the report's, at the time it was taken (u.At), not
	// once the reads and writes after it are done: a rollout that moved
	// on when it saw the canary's success must not show the next agents
	// starting before it.
	c.h.event(store.AgentEvent{AgentID: c.agentID, At: u.At, Type: updateEvents[u.Status], RemoteAddress: c.remote,
		Detail: u.Reason, Update: &u, Connections: conns})
	return nil
}

// updateEvents are the agent events of the update states.
var updateEvents = map[store.UpdateState]store.AgentEventType{
	store.UpdateUpdating:   store.EventUpdateStarted,
	store.UpdateUpdated:    store.EventUpdateSucceeded,
	store.UpdateFailed:     store.EventUpdateFailed,
	store.UpdateRolledBack: store.EventUpdateRolledBack,
}
