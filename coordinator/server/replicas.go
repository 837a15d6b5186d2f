package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/leader"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// A replica holds a presence lease of its own while it serves, renewed
// as the leader lease is. The channels a replica claimed outlive it only
// while that lease lasts: when a replica dies without releasing them, the
// leader releases them once its presence lease has expired, so its
// agents are not shown online on a replica that is gone.

// presenceLease is the name of a replica's presence lease.
func presenceLease(replica string) string { return "replica/" + replica }

// newPresence is the loop that holds this replica's presence lease.
func (s *Server) newPresence() *leader.Leader {
	return leader.New(leader.Config{Store: s.Store, Name: presenceLease(s.cfg.ReplicaID), Holder: s.cfg.ReplicaID,
		TTL: s.cfg.LeaderTTL, Logger: s.log.With("subsystem", "presence")}, func(ctx context.Context) { <-ctx.Done() })
}

// claimsReadAll is how often the leader reads every channel whatever
// the feed said: a claim whose notification was lost (its replica
// stopped between the commit and the notification) is released this
// much later at most once its replica is gone.
const claimsReadAll = 5 * time.Minute

// claimsStore is what the release of gone replicas' channels reads and
// writes; each method keeps store.Backend's contract.
type claimsStore interface {
	Channels(ctx context.Context) ([]store.Channel, error)
	Lease(ctx context.Context, name string) (string, time.Time, error)
	ReleaseChannel(ctx context.Context, agentID string, epoch uint64) (bool, error)
	UpdateAgent(ctx context.Context, id string, fn func(*store.Agent) error) (store.Agent, error)
}

// claimWatch releases the channels claimed by replicas whose presence
// lease expired (a released one is a replica that stopped cleanly,
// having released its claims itself). Its pass costs the replicas, not
// the agents: it reads every channel only at its first pass, after a gap
// in the feed, every claimsReadAll, and when a replica that claimed a
// channel (as that read or the feed since says) is gone; otherwise one
// presence lease a replica. The leader runs it every leader TTL.
type claimWatch struct {
	st   claimsStore
	feed *store.Feed
	self string
	log  *slog.Logger

	mu sync.Mutex
	// sub reads the claims since the last read of every channel; nil: the
	// next pass reads them all.
	sub  *store.Subscription
	read time.Time
	// others are the replicas other than this one that hold channels, or
	// did when the feed last said.
	others map[string]bool
}

func newClaimWatch(st claimsStore, feed *store.Feed, self string, log *slog.Logger) *claimWatch {
	return &claimWatch{st: st, feed: feed, self: self, log: log}
}

// pass is one pass at now.
func (w *claimWatch) pass(ctx context.Context, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sub != nil && now.Sub(w.read) < claimsReadAll {
		changes, err := w.sub.Poll()
		if err != nil {
			w.sub = nil // a gap
		}
		for _, c := range changes {
			for _, cc := range c.Channels {
				if cc.Replica != "" && cc.Replica != w.self {
					w.others[cc.Replica] = true
				}
			}
		}
	} else {
		w.sub = nil
	}
	if w.sub != nil {
		gone, err := w.anyGone(ctx, now)
		if err != nil || !gone {
			return
		}
	}
	w.releaseGone(ctx, now)
}

// anyGone reports whether one of the replicas known to hold channels is
// gone: its presence lease expired.
func (w *claimWatch) anyGone(ctx context.Context, now time.Time) (bool, error) {
	for r := range w.others {
		holder, until, err := w.st.Lease(ctx, presenceLease(r))
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("read a replica's presence", "replica", r, "err", err)
			}
			return false, err
		}
		if holder != "" && !until.After(now) {
			return true, nil
		}
	}
	return false, nil
}

// releaseGone reads every channel and releases those of the replicas
// gone, and starts the watch over again from that read.
func (w *claimWatch) releaseGone(ctx context.Context, now time.Time) {
	sub := w.feed.Subscribe(w.feed.Head())
	chans, err := w.st.Channels(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("read agents' channels", "err", err)
		}
		return
	}
	others := map[string]bool{}
	dead := map[string]bool{}
	for _, ch := range chans {
		if ch.Replica == w.self {
			continue
		}
		d, seen := dead[ch.Replica]
		if !seen {
			holder, until, err := w.st.Lease(ctx, presenceLease(ch.Replica))
			if err != nil {
				if ctx.Err() == nil {
					w.log.Error("read a replica's presence", "replica", ch.Replica, "err", err)
				}
				return
			}
			d = holder != "" && !until.After(now)
			dead[ch.Replica] = d
			if d {
				w.log.Warn("replica gone: releasing its agents' channels", "replica", ch.Replica, "expired", until)
			}
		}
		if !d {
			others[ch.Replica] = true
			continue
		}
		if _, err := w.st.ReleaseChannel(ctx, ch.AgentID, ch.Epoch); err != nil && ctx.Err() == nil {
			w.log.Error("release a gone replica's channel", "agent", ch.AgentID, "replica", ch.Replica, "err", err)
			others[ch.Replica] = true // tried again at the next pass
			continue
		}
		// The agent was last known online now: its offline report counts
		// from here.
		_, err := w.st.UpdateAgent(ctx, ch.AgentID, func(a *store.Agent) error { a.LastSeen = now.UTC(); return nil })
		if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			w.log.Error("store a gone replica's agent last seen", "agent", ch.AgentID, "err", err)
		}
	}
	w.sub, w.read, w.others = sub, now, others
}
