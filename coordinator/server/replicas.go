package server

import (
	"context"
	"errors"
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

// releaseDeadClaims releases the channels claimed by replicas whose
// presence lease expired (a released one is a replica that stopped
// cleanly, having released its claims itself).
func (s *Server) releaseDeadClaims(ctx context.Context) {
	chans, err := s.Store.Channels(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("read agents' channels", "err", err)
		}
		return
	}
	now := time.Now()
	dead := map[string]bool{}
	for _, ch := range chans {
		if ch.Replica == s.cfg.ReplicaID {
			continue
		}
		d, seen := dead[ch.Replica]
		if !seen {
			holder, until, err := s.Store.Lease(ctx, presenceLease(ch.Replica))
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("read a replica's presence", "replica", ch.Replica, "err", err)
				}
				return
			}
			d = holder != "" && !until.After(now)
			dead[ch.Replica] = d
			if d {
				s.log.Warn("replica gone: releasing its agents' channels", "replica", ch.Replica, "expired", until)
			}
		}
		if !d {
			continue
		}
		if _, err := s.Store.ReleaseChannel(ctx, ch.AgentID, ch.Epoch); err != nil && ctx.Err() == nil {
			s.log.Error("release a gone replica's channel", "agent", ch.AgentID, "replica", ch.Replica, "err", err)
			continue
		}
		// The agent was last known online now: its offline report counts
		// from here.
		_, err := s.Store.UpdateAgent(ctx, ch.AgentID, func(a *store.Agent) error { a.LastSeen = now.UTC(); return nil })
		if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.log.Error("store a gone replica's agent last seen", "agent", ch.AgentID, "err", err)
		}
	}
}
