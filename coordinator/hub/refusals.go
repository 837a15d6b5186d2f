package hub

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/tick"
)

// refusalEvery is how often a CredentialRefused event may be recorded for
// one agent: the first refusal is recorded at once, the next ones within
// the interval are counted and recorded together when it has passed.
const refusalEvery = time.Minute

// refusals coalesces the CredentialRefused events of revoked credentials:
// a caller repeating a revoked credential costs one durable write a minute,
// not one a call. Entries go once a quiet interval passes, so the table
// holds only agents refused within the last two intervals.
type refusals struct {
	h  *Hub
	mu sync.Mutex
	by map[string]*refusal // by agent id
}

type refusal struct {
	since  time.Time // when the last event was recorded
	n      int       // refusals since, not recorded yet
	last   string    // the latest of them: "METHOD path"
	remote string    // and its address
}

// add records a refusal of agentID's revoked credential at now: an event
// now if none was recorded within refusalEvery, else a count for the next.
func (rs *refusals) add(agentID, remote, what string, now time.Time) {
	rs.mu.Lock()
	r := rs.by[agentID]
	if r != nil && now.Sub(r.since) < refusalEvery {
		r.n, r.last, r.remote = r.n+1, what, remote
		rs.mu.Unlock()
		return
	}
	rs.by[agentID] = &refusal{since: now}
	rs.mu.Unlock()
	rs.h.event(store.AgentEvent{AgentID: agentID, Type: store.EventCredentialRefused, RemoteAddress: remote,
		Reason: "the credential was revoked", Detail: what})
}

// flush records, for each agent whose interval has passed at now, the
// refusals counted in it as one event, and forgets agents refused by
// nobody since.
func (rs *refusals) flush(now time.Time) {
	var due []store.AgentEvent
	rs.mu.Lock()
	for id, r := range rs.by {
		if now.Sub(r.since) < refusalEvery {
			continue
		}
		if r.n == 0 {
			delete(rs.by, id)
			continue
		}
		due = append(due, store.AgentEvent{AgentID: id, Type: store.EventCredentialRefused, RemoteAddress: r.remote,
			Reason: "the credential was revoked",
			Detail: fmt.Sprintf("%d more refused calls since %s, the last %s", r.n, r.since.Format(time.RFC3339), r.last)})
		rs.by[id] = &refusal{since: now}
	}
	rs.mu.Unlock()
	for _, e := range due {
		rs.h.event(e)
	}
}

// runRefusalLoop records the coalesced refusals every ExpiryInterval,
// until ctx ends.
func (h *Hub) runRefusalLoop(ctx context.Context) {
	tick.Every(ctx, h.cfg.ExpiryInterval, func(context.Context) { h.refusals.flush(h.now()) })
}
