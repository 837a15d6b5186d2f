package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/tick"
)

// An agent offline for longer than OfflineAfter is reported offline: the
// AgentOffline error on its connections, agent.offline and
// connection.error.raised. Whether it is due is derived from what the
// store holds (the agent's LastSeen, whether a replica holds its channel),
// not from a timer, so a report due while no coordinator ran is made by
// the next leader's first pass. The leader alone runs the loop; an agent
// coming back ends the report in the transaction of its Connected event.
//
// A pass costs what changed, not the fleet. The leader's first pass
// reads every agent and channel and keeps the agents reported offline,
// and, of those no replica holds that are not revoked nor reported, when
// each falls due; the passes after it read the change feed and the store
// only for the agents it names and those due: an agent released, revoked
// or created is read at the next pass, one claimed only when it is
// reported (its Connected event ends the report; the pass does when that
// write failed), and one that falls due when it does. Any other agent's
// report cannot change until the feed names it. When the feed names more
// than an eighth of the agents (a burst of returns or departures) the
// pass reads everything instead, which costs less than as many reads of
// one; so it does after a gap in the feed, and every offlineReadAll
// OfflineAfters in case a replica stopped between a commit and its
// notification (PostgreSQL): such a lost change delays a report by that
// much at most.

// DefaultOfflineAfter is Config.OfflineAfter's default.
const DefaultOfflineAfter = 15 * time.Minute

// offlineInterval is how often the leader checks agents' presence: a
// quarter of the threshold, between 1 second and 1 minute.
func (h *Hub) offlineInterval() time.Duration {
	return min(max(h.cfg.OfflineAfter/4, time.Second), time.Minute)
}

// offlineReadAll is how often, in OfflineAfters, the leader's pass reads
// every agent and channel whatever the feed said.
const offlineReadAll = 4

// offlineWatch is what the leader's passes know between two full reads.
type offlineWatch struct {
	mu sync.Mutex
	// sub reads the changes since the last full read; nil: the next pass
	// reads everything.
	sub *store.Subscription
	// read is when the last full read was, by the hub's clock.
	read time.Time
	// due are the agents whose report may change, and when: the zero time
	// for the next pass.
	due map[string]time.Time
	// reported are the agents reported offline.
	reported map[string]bool
	// agents is how many agents the last full read found.
	agents int
}

// note marks for the next pass the agents c names whose report may
// change, and reports how many.
func (w *offlineWatch) note(c store.Change) int {
	n := 0
	mark := func(id string) { w.due[id] = time.Time{}; n++ }
	for _, ch := range c.Channels {
		switch {
		case ch.Replica == "" || w.reported[ch.AgentID]:
			mark(ch.AgentID) // released, or back while reported
		default:
			delete(w.due, ch.AgentID) // online: not due while it is
		}
	}
	for _, id := range c.RevokedAgents {
		mark(id)
	}
	for _, id := range c.NewAgents {
		mark(id)
	}
	return n
}

// RunOfflineLoop checks every offlineInterval, until ctx ends, which
// agents are to be reported offline or no longer (CheckOffline). The
// leader runs it; its first pass reads everything.
func (h *Hub) RunOfflineLoop(ctx context.Context) {
	h.offline.mu.Lock()
	h.offline.sub = nil
	h.offline.mu.Unlock()
	h.CheckOffline(ctx)
	tick.Every(ctx, h.offlineInterval(), h.CheckOffline)
}

// CheckOffline is one pass at the hub's clock: every agent whose report
// must change (rules.OfflineDue differs from whether it is reported) is
// checked again in one transaction with its channel and connections
// (store CheckAgentOffline). It reads the agents the feed named since the
// last pass and those due, or, at the first pass, after a gap and every
// offlineReadAll OfflineAfters, every agent and channel.
func (h *Hub) CheckOffline(ctx context.Context) {
	w := &h.offline
	w.mu.Lock()
	defer w.mu.Unlock()
	now := h.now().UTC()
	if w.sub != nil && now.Sub(w.read) < offlineReadAll*h.cfg.OfflineAfter {
		changes, err := w.sub.Poll()
		named := 0
		for _, c := range changes {
			named += w.note(c)
		}
		if err != nil || named > w.agents/8 {
			w.sub = nil // a gap, or a burst: read everything
		}
	} else {
		w.sub = nil
	}
	if w.sub == nil {
		if err := h.readPresence(ctx, now); err != nil {
			h.offlineErr(ctx, err)
			return
		}
	}
	for id, at := range w.due {
		if at.After(now) {
			continue
		}
		next, reported, err := h.checkOffline(ctx, id, now)
		if err != nil {
			h.offlineErr(ctx, err)
			return
		}
		if next.IsZero() {
			delete(w.due, id)
		} else {
			w.due[id] = next
		}
		if reported {
			w.reported[id] = true
		} else {
			delete(w.reported, id)
		}
	}
}

// readPresence reads every agent and channel, and starts the watch over
// again: the agents whose report must change are due now, those that may
// fall due later when they do. The feed is read from before the read on.
func (h *Hub) readPresence(ctx context.Context, now time.Time) error {
	w := &h.offline
	sub := h.cfg.Feed.Subscribe(h.cfg.Feed.Head())
	agents, err := h.st.Agents(ctx)
	if err != nil {
		return err
	}
	chans, err := h.st.Channels(ctx)
	if err != nil {
		return err
	}
	online := make(map[string]bool, len(chans))
	for _, ch := range chans {
		online[ch.AgentID] = ch.Replica != ""
	}
	due, reported := map[string]time.Time{}, map[string]bool{}
	for _, a := range agents {
		if !a.Offline.IsZero() {
			reported[a.ID] = true
		}
		if rules.OfflineDue(a, online[a.ID], now, h.cfg.OfflineAfter) != !a.Offline.IsZero() {
			due[a.ID] = time.Time{}
		} else if next := offlineNext(a, online[a.ID], h.cfg.OfflineAfter); !next.IsZero() {
			due[a.ID] = next
		}
	}
	w.sub, w.read, w.due, w.reported, w.agents = sub, now, due, reported, len(agents)
	return nil
}

// checkOffline reads one agent and its channel, changes its report when
// it must (store CheckAgentOffline), and returns when it may change next
// without the feed naming it (zero for never) and whether it is reported
// offline now.
func (h *Hub) checkOffline(ctx context.Context, id string, now time.Time) (time.Time, bool, error) {
	a, err := h.st.Agent(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, false, nil // deleted
	}
	if err != nil {
		return time.Time{}, false, err
	}
	ch, err := h.st.Channel(ctx, id)
	if err != nil {
		return time.Time{}, false, err
	}
	online := ch.Replica != ""
	due := rules.OfflineDue(a, online, now, h.cfg.OfflineAfter)
	if due != !a.Offline.IsZero() {
		changed, err := h.st.CheckAgentOffline(ctx, id, now, h.cfg.OfflineAfter)
		if err != nil {
			return time.Time{}, false, err
		}
		if changed {
			h.log.Info("agent presence report changed", "agent", id, "offline", !online)
		}
		a.Offline = time.Time{}
		if due {
			a.Offline = now
		}
	}
	return offlineNext(a, online, h.cfg.OfflineAfter), !a.Offline.IsZero(), nil
}

// offlineNext is when agent a, online or not, falls due to be reported
// offline unless the feed names it first: the zero time when it is online,
// revoked or reported already.
func offlineNext(a store.Agent, online bool, after time.Duration) time.Time {
	if online || !a.Revoked.IsZero() || !a.Offline.IsZero() {
		return time.Time{}
	}
	last := a.LastSeen
	if last.IsZero() {
		last = a.Created
	}
	return last.Add(after)
}

func (h *Hub) offlineErr(ctx context.Context, err error) {
	if ctx.Err() == nil {
		h.log.Error("check agents offline", "err", err)
	}
}
