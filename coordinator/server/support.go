package server

import (
	"context"
	"time"
)

// pruneEvents deletes the agent events older than EventRetention.
func (s *Server) pruneEvents(ctx context.Context) {
	n, err := s.Store.PruneAgentEvents(ctx, time.Now().Add(-s.cfg.EventRetention))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("prune agent events", "err", err)
		}
		return
	}
	if n > 0 {
		s.log.Info("pruned agent events", "deleted", n, "retention", s.cfg.EventRetention)
	}
}
