package hub

import (
	"sync"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// One live control channel per agent: the newest wins. A connection
// becomes its agent's newest when its upgrade is accepted, hello or not,
// and the older one (welcomed, or still in its handshake) is closed at
// once. Handshakes of one agent run one at a time, so the store work of
// many upgrades with one credential never races on the agent's records.

// turn serialises the handshakes of one agent; n counts who holds or
// waits for it, so the entry goes when nobody does.
type turn struct {
	mu sync.Mutex
	n  int
}

// supersede makes c its agent's newest connection and closes the one it
// replaces. A welcomed connection it replaces goes offline now, and c
// keeps the connections that one served: they are reported offline if c
// fails before it is welcomed.
//
// A connection whose upgrade was answered before the newest one's (it
// reached here late) is the one superseded: it is closed at once.
func (h *Hub) supersede(c *agentConn) {
	h.mu.Lock()
	old := h.newest[c.agentID]
	if old != nil && old.upgrade > c.upgrade {
		h.mu.Unlock()
		c.close(store.ReasonSuperseded)
		return
	}
	h.newest[c.agentID] = c
	if old != nil {
		c.replaced, c.replacedEpoch = old.replaced, old.replacedEpoch
		if h.agents[c.agentID] == old {
			delete(h.agents, c.agentID)
			c.replaced, c.replacedEpoch = old.bound(), old.epoch
			for _, id := range c.replaced {
				if h.conns[id] == old {
					delete(h.conns, id)
				}
			}
		}
	}
	h.mu.Unlock()
	if old != nil {
		old.close(store.ReasonSuperseded)
	}
}

// isNewest reports whether c is still its agent's newest connection.
func (h *Hub) isNewest(c *agentConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.newest[c.agentID] == c
}

// takeTurn waits until no other handshake of the agent runs, and returns
// the function that ends this one's turn.
func (h *Hub) takeTurn(agentID string) func() {
	h.mu.Lock()
	t := h.turns[agentID]
	if t == nil {
		t = &turn{}
		h.turns[agentID] = t
	}
	t.n++
	h.mu.Unlock()
	t.mu.Lock()
	return func() {
		t.mu.Unlock()
		h.mu.Lock()
		if t.n--; t.n == 0 {
			delete(h.turns, agentID)
		}
		h.mu.Unlock()
	}
}

// abandon drops c, which ended before it was welcomed. When it was the
// agent's newest and had replaced a welcomed connection, and nothing newer
// is online, the replaced connection's connections are reported offline:
// nobody serves them now.
func (h *Hub) abandon(c *agentConn, reason string) {
	h.mu.Lock()
	newest := h.newest[c.agentID] == c
	if newest {
		delete(h.newest, c.agentID)
	}
	report := newest && len(c.replaced) > 0 && h.agents[c.agentID] == nil && !h.closed
	claimed := c.epoch
	h.mu.Unlock()
	if claimed != 0 {
		// Claimed, then not registered (the hub is closing, or a newer
		// connection came): its claim ends, unless a newer one holds.
		h.release(c.agentID, claimed)
	}
	// Reported by the holder of the replaced connection's claim alone: a
	// newer claim elsewhere has the agent.
	if report && h.release(c.agentID, c.replacedEpoch) {
		h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventDisconnected, Reason: reason,
			RemoteAddress: c.remote, Connections: c.replaced})
	}
}

// drop forgets c, which ended before it was welcomed because a newer
// claim on another replica has its agent: nothing goes offline.
func (h *Hub) drop(c *agentConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.newest[c.agentID] == c {
		delete(h.newest, c.agentID)
	}
}
