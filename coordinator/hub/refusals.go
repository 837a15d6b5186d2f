package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/tick"
)

// refusalEvery is how often a CredentialRefused event may be recorded for
// one agent: the first refusal is recorded at once, the next ones within
// the interval are counted and recorded together when it has passed.
const refusalEvery = time.Minute

// The CredentialRefused events of revoked credentials are coalesced in the
// store (store.RefusalStore), across the replicas: a caller repeating a
// revoked credential, to one replica or to all, costs one event a minute,
// not one a call. Each refused call is counted in the agent's window (a
// write that waits for no disk); the first of a window is recorded at
// once, by the replica that counted it, and the leader records the rest
// of each ended window as one event (RunRefusalLoop). A crash between
// taking a window and recording its event loses that event: it is for
// support, as before, when the count was kept in one replica's memory.

// refused records a refusal of agentID's revoked credential at now: an
// event now if it opens a window, else a count for the window's event.
func (h *Hub) refused(ctx context.Context, agentID, remote, what string, now time.Time) {
	first, err := h.st.CountRefusal(ctx, agentID, remote, what, now, refusalEvery)
	if err != nil {
		h.log.Warn("count a refused credential", "agent", agentID, "err", err)
		return
	}
	if first {
		h.event(store.AgentEvent{AgentID: agentID, Type: store.EventCredentialRefused, RemoteAddress: remote,
			Reason: "the credential was revoked", Detail: what})
	}
}

// FlushRefusals records, for each agent whose window ended by the hub's
// clock, the refusals counted in it after its first as one event.
func (h *Hub) FlushRefusals(ctx context.Context) {
	due, err := h.st.TakeRefusals(ctx, h.now(), refusalEvery)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("take coalesced credential refusals", "err", err)
		}
		return
	}
	for _, r := range due {
		h.event(store.AgentEvent{AgentID: r.AgentID, Type: store.EventCredentialRefused, RemoteAddress: r.Remote,
			Reason: "the credential was revoked",
			Detail: fmt.Sprintf("%d more refused calls since %s, the last %s", r.N, r.Since.Format(time.RFC3339), r.Last)})
	}
}

// RunRefusalLoop records the coalesced refusals every ExpiryInterval,
// until ctx ends. One replica alone runs it: the leader.
func (h *Hub) RunRefusalLoop(ctx context.Context) {
	tick.Every(ctx, h.cfg.ExpiryInterval, h.FlushRefusals)
}
