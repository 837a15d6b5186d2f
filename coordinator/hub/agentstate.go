package hub

import (
	"context"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// AgentState is an agent as support staff see it: its stored record, the
// connections bound to it and, while it is online, its live connection and
// the datasets in its hands. The API's /agents and the Portal's agents page
// both read it.
type AgentState struct {
	Agent       store.Agent
	Connections []store.Connection
	// Online: a replica holds the agent's control channel, this one or
	// another sharing the store.
	Online bool
	// ReplicaID is the replica holding the channel; empty while offline.
	ReplicaID string
	// Live is the live connection when this replica holds it; zero
	// otherwise (what it says is known on the replica holding it).
	Live LiveAgent
	// InHand are the datasets of the agent's last heartbeat as the store
	// has them, with the heartbeat's progress where it is ahead. A dataset
	// the store no longer shows the agent has only its ID and Progress.
	InHand []store.Dataset
	// BelowMinimum: the agent's last known version is below
	// MinimumVersion, the coordinator's --min-agent-version ("" for none).
	BelowMinimum   bool
	MinimumVersion string
}

// AgentState returns one agent's state; store.ErrNotFound if missing.
func (h *Hub) AgentState(ctx context.Context, agentID string) (AgentState, error) {
	a, err := h.st.Agent(ctx, agentID)
	if err != nil {
		return AgentState{}, err
	}
	ch, err := h.st.Channel(ctx, agentID)
	if err != nil {
		return AgentState{}, err
	}
	return h.stateOf(ctx, a, ch.Replica)
}

// AgentStates returns every agent's state, oldest agent first.
func (h *Hub) AgentStates(ctx context.Context) ([]AgentState, error) {
	agents, err := h.st.Agents(ctx)
	if err != nil {
		return nil, err
	}
	chans, err := h.st.Channels(ctx)
	if err != nil {
		return nil, err
	}
	holder := make(map[string]string, len(chans))
	for _, ch := range chans {
		holder[ch.AgentID] = ch.Replica
	}
	out := make([]AgentState, len(agents))
	for i, a := range agents {
		if out[i], err = h.stateOf(ctx, a, holder[a.ID]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stateOf builds an agent's state from the store, the replica the store
// says holds its channel (empty: none) and its live connection here.
func (h *Hub) stateOf(ctx context.Context, a store.Agent, replica string) (AgentState, error) {
	live, online := h.Live(a.ID)
	conns, err := h.st.AgentConnections(ctx, a.ID)
	if err != nil {
		return AgentState{}, err
	}
	s := AgentState{Agent: a, Connections: conns, Online: online || replica != "", ReplicaID: replica,
		BelowMinimum: h.BelowMinimum(a.Version), MinimumVersion: h.cfg.MinAgentVersion}
	if !online {
		return s, nil
	}
	s.ReplicaID = h.cfg.Replica
	s.Live = live
	for _, p := range live.InHand {
		d, err := h.st.AgentDataset(ctx, a.ID, p.DatasetID)
		if err != nil {
			d = store.Dataset{ID: p.DatasetID}
		}
		d.Progress = max(d.Progress, p.Progress)
		s.InHand = append(s.InHand, d)
	}
	return s, nil
}
