package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The agents online across the replicas are the channels the store says
// are held (store.ChannelStore), on this replica or another. Counting them
// reads the store, so the count is kept between reads: it is read again
// only when this replica has claimed or released a channel, or the change
// feed has carried a claim or a release (or a gap), since the last read,
// or that read is onlineMaxAge old (a lost
// notification then costs no more than that). A fleet at rest costs no
// read at all, a busy one at most one read at a time per replica, however
// many pages and scrapes ask.

// onlineMaxAge is how long a count is kept when the feed says nothing
// changed.
const onlineMaxAge = 30 * time.Second

// onlineCount is the count of agents online across the replicas, as last
// read from the store.
type onlineCount struct {
	// changes counts the channel changes (and gaps) the feed carried.
	changes atomic.Uint64
	mu      sync.Mutex // held while the store is read: one read at a time
	n       int
	read    time.Time // when n was read; zero before the first read
	readAt  uint64    // changes when n was read
}

// channelsChanged notes that a channel was claimed or released (here, or
// elsewhere as the feed says), or the feed lost some changes: the next
// OnlineCount reads the store.
func (h *Hub) channelsChanged() { h.agentsOnline.changes.Add(1) }

// OnlineCount is how many agents are online across the replicas sharing
// the store: their control channel is held, here or on another replica.
// When the store cannot be read it returns the last count read.
func (h *Hub) OnlineCount() int {
	o := &h.agentsOnline
	o.mu.Lock()
	defer o.mu.Unlock()
	now, at := h.now(), o.changes.Load()
	if !o.read.IsZero() && o.readAt == at && now.Sub(o.read) < onlineMaxAge {
		return o.n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := h.st.ChannelCount(ctx)
	if err != nil {
		h.log.Warn("count the agents online", "err", err)
		return o.n
	}
	o.n, o.read, o.readAt = n, now, at
	return n
}

// ConnectedCount is how many agents have a live control channel to this
// replica.
func (h *Hub) ConnectedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.agents)
}
