package hub

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Errors of the support calls.
var (
	// ErrOffline: the agent has no live connection.
	ErrOffline = errors.New("agent is offline")
	// ErrNoAnswer: the agent did not answer in time (or is too old to
	// know the message).
	ErrNoAnswer = errors.New("agent did not answer in time")
	// ErrUnsupported: the agent's version does not know the message (its
	// hello did not list the feature).
	ErrUnsupported = errors.New("the agent's version does not support this; upgrade the agent")
)

// LiveAgent is what the hub knows of an online agent's connection.
type LiveAgent struct {
	ConnectedSince time.Time
	// LastSeen is when the agent's last message arrived.
	LastSeen      time.Time
	RemoteAddress string
	// RoundTripMillis is the round trip of the agent's last heartbeat, as
	// it reported it.
	RoundTripMillis int64
	// InHand are the datasets the agent works on, from its last heartbeat.
	InHand []protocol.Progress
	// Connections are the ids of the connections it serves now.
	Connections []string
}

// Live returns an agent's live connection; false when it is offline.
func (h *Hub) Live(agentID string) (LiveAgent, bool) {
	c := h.local(agentID)
	if c == nil {
		return LiveAgent{}, false
	}
	ids := c.bound()
	slices.Sort(ids)
	c.mu.Lock()
	defer c.mu.Unlock()
	return LiveAgent{
		ConnectedSince: c.connectedAt, LastSeen: c.lastSeen, RemoteAddress: c.remote,
		RoundTripMillis: c.rttMs, InHand: slices.Clone(c.inHand), Connections: ids,
	}, true
}

// Disconnect closes an agent's live connection with a reason (one of the
// store.Reason* constants); false when it was offline.
func (h *Hub) Disconnect(agentID, reason string) bool {
	h.mu.Lock()
	c := h.agents[agentID]
	if c == nil {
		c = h.newest[agentID] // still in its handshake
	}
	h.mu.Unlock()
	if c == nil {
		return false
	}
	c.close(reason)
	return true
}

// event records an agent event, at e.At (now when zero); a failure is
// logged, never returned: the event is for support, the connection goes
// on.
func (h *Hub) event(e store.AgentEvent) {
	// Version 7 ids sort by creation: events of one instant keep their order.
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	e.ID = id.String()
	if e.At.IsZero() {
		e.At = h.now().UTC()
	}
	h.cfg.Metrics.AgentEvent(string(e.Type))
	// Not the hub's context: a disconnect while closing is recorded too.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err = h.st.AddAgentEvent(ctx, e); err != nil {
		h.log.Error("record agent event", "agent", e.AgentID, "type", e.Type, "err", err)
	}
}

// seen stores when the agent's connection last opened or closed.
func (h *Hub) seen(agentID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.st.UpdateAgent(ctx, agentID, func(a *store.Agent) error {
		a.LastSeen = h.now().UTC()
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Error("store agent last seen", "agent", agentID, "err", err)
	}
}

// ended records a dataset that reached a terminal status.
func (h *Hub) ended(d store.Dataset) {
	if d.Status.Terminal() {
		h.cfg.Metrics.DatasetEnded(string(d.Status), d.Completed.Sub(d.Requested))
	}
}

// leaseHolder is the agent that held a dataset's lease before it expired:
// the actor of the newest transition an agent made.
func leaseHolder(d store.Dataset) string {
	for i := len(d.Timeline) - 1; i >= 0; i-- {
		if a := d.Timeline[i].Actor; a != store.ActorCoordinator {
			return a
		}
	}
	return ""
}

// queuedSince is when a Queued dataset last entered Queued.
func queuedSince(d store.Dataset) time.Time {
	for i := len(d.Timeline) - 1; i >= 0; i-- {
		if d.Timeline[i].To == dataset.Queued {
			return d.Timeline[i].At
		}
	}
	return d.Requested
}

// SetUpdatePolicy sets an agent's update policy (store.UpdateAuto or
// store.UpdatePinned) and records a change as an agent event;
// store.ErrNotFound when the agent is missing.
func (h *Hub) SetUpdatePolicy(ctx context.Context, agentID, policy string) (store.Agent, error) {
	var old string
	a, err := h.st.UpdateAgent(ctx, agentID, func(a *store.Agent) error {
		old, a.UpdatePolicy = a.Policy(), policy
		return nil
	})
	if err != nil {
		return store.Agent{}, err
	}
	if old != policy {
		h.event(store.AgentEvent{AgentID: agentID, Type: store.EventUpdatePolicyChanged, Detail: old + " -> " + policy})
	}
	return a, nil
}

// local is the agent's connection on this replica; nil when its channel
// is not here.
func (h *Hub) local(agentID string) *agentConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[agentID]
}
