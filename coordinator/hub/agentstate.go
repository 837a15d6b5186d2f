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
	Online      bool
	// Live is the live connection; zero while offline.
	Live LiveAgent
	// InHand are the datasets of the agent's last heartbeat as the store
	// has them, with the heartbeat's progress where it is ahead. A dataset
	// the store no longer shows the agent has only its ID and Progress.
	InHand []store.Dataset
}

// AgentState returns one agent's state; store.ErrNotFound if missing.
func (h *Hub) AgentState(ctx context.Context, agentID string) (AgentState, error) {
	a, err := h.st.Agent(ctx, agentID)
	if err != nil {
		return AgentState{}, err
	}
	return h.stateOf(ctx, a)
}

// AgentStates returns every agent's state, oldest agent first.
func (h *Hub) AgentStates(ctx context.Context) ([]AgentState, error) {
	agents, err := h.st.Agents(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AgentState, len(agents))
	for i, a := range agents {
		if out[i], err = h.stateOf(ctx, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stateOf builds an agent's state from the store and its live connection.
func (h *Hub) stateOf(ctx context.Context, a store.Agent) (AgentState, error) {
	live, online := h.Live(a.ID)
	conns, err := h.st.AgentConnections(ctx, a.ID)
	if err != nil {
		return AgentState{}, err
	}
	s := AgentState{Agent: a, Connections: conns, Online: online}
	if !online {
		return s, nil
	}
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
