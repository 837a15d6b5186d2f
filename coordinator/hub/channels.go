package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// Control channels across replicas. Each welcomed channel is claimed in
// the store for this replica at a new epoch (store.ChannelStore), which
// the change feed carries to every replica: a replica still holding the
// agent's channel at a lower epoch closes it as superseded, as a newer
// connection on one replica closes the older. What a channel's end says
// (the agent's connections offline, its presence webhooks) is fenced by
// the epoch: only the holder of the newest claim releases it and reports
// the agent offline, so a stale holder never marks offline an agent that
// reconnected elsewhere.

// claim records c as its agent's channel, for this replica, at a new
// epoch. It returns errSuperseded when a newer claim, from another
// replica, holds the channel already, and the store's error when it
// cannot tell.
func (h *Hub) claim(ctx context.Context, c *agentConn) error {
	epoch, err := h.st.ClaimChannel(ctx, c.agentID, h.cfg.Replica)
	if err != nil {
		return fmt.Errorf("claim the agent's channel: %w", err)
	}
	h.channelsChanged() // counted at once here, before the feed says so
	c.epoch = epoch
	// A newer claim whose change came before this epoch was known is
	// seen here: it committed before this read.
	ch, err := h.st.Channel(ctx, c.agentID)
	if err != nil {
		return fmt.Errorf("read the agent's channel: %w", err)
	}
	if ch.Epoch > epoch {
		c.logger().Info("agent connection superseded on another replica during its handshake", "replica", ch.Replica)
		return errSuperseded
	}
	return nil
}

// errSuperseded: a newer claim holds the agent's channel.
var errSuperseded = errors.New("superseded on another replica")

// release ends c's claim: true when it still held the channel, so its
// end is the agent's going offline; false when a newer claim holds it.
// A store failure counts as held: the end is reported, as on one
// replica.
func (h *Hub) release(agentID string, epoch uint64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := h.st.ReleaseChannel(ctx, agentID, epoch)
	h.channelsChanged()
	if err != nil {
		h.log.Error("release the agent's channel", "agent", agentID, "err", err)
		return true
	}
	return ok
}

// claimed acts on a channel claimed anywhere: a live channel of the agent
// here at a lower epoch is superseded. It leaves the live ones at once,
// as supersede does, so its end reports nothing: the newer holder has the
// agent.
func (h *Hub) claimed(cc store.ChannelChange) {
	if cc.Replica == "" {
		return // a release
	}
	h.mu.Lock()
	c := h.agents[cc.AgentID]
	if c == nil || c.epoch >= cc.Epoch {
		h.mu.Unlock()
		return
	}
	delete(h.agents, cc.AgentID)
	for _, id := range c.bound() {
		if h.conns[id] == c {
			delete(h.conns, id)
		}
	}
	h.mu.Unlock()
	c.logger().Info("agent connection superseded on another replica", "replica", cc.Replica, "epoch", cc.Epoch)
	c.close(store.ReasonSuperseded)
}

// recheckChannel closes c when the store says a newer claim holds its
// agent's channel: a change the feed's gap hid.
func (h *Hub) recheckChannel(ctx context.Context, c *agentConn) error {
	ch, err := h.st.Channel(ctx, c.agentID)
	if err != nil {
		return err
	}
	h.mu.Lock()
	epoch := c.epoch
	h.mu.Unlock()
	if ch.Epoch > epoch {
		h.claimed(store.ChannelChange{AgentID: ch.AgentID, Replica: ch.Replica, Epoch: ch.Epoch})
	}
	return nil
}

// releaseOwn releases the channels the store says this replica holds
// while it holds none: those of a previous run that ended without
// releasing them (killed), and stores each agent as last seen now. It
// runs at Start, before any agent connects.
func (h *Hub) releaseOwn(ctx context.Context) error {
	chans, err := h.st.Channels(ctx)
	if err != nil {
		return err
	}
	for _, ch := range chans {
		if ch.Replica != h.cfg.Replica {
			continue
		}
		if _, err := h.st.ReleaseChannel(ctx, ch.AgentID, ch.Epoch); err != nil {
			return err
		}
		// The agent was last known online when this replica stopped, at
		// the latest now: its offline report counts from here.
		h.seen(ch.AgentID)
	}
	return nil
}
