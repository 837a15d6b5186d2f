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

// pruneShared is the leader's pruning of what the replicas share: agent
// events past EventRetention, ended Portal sessions, ended windows of
// failed authentications, diagnostics requests over an hour old and
// support bundles past BundleRetention.
func (s *Server) pruneShared(ctx context.Context) {
	s.pruneEvents(ctx)
	if err := s.Portal.Prune(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("prune portal sessions", "err", err)
	}
	n, err := s.Store.PruneFailures(ctx, time.Now())
	if err != nil && ctx.Err() == nil {
		s.log.Error("prune failure counts", "err", err)
	} else if n > 0 {
		s.log.Info("pruned failure counts", "deleted", n)
	}
	n, err = s.Store.PruneDiagnostics(ctx, time.Now().Add(-diagnosticsKept))
	if err != nil && ctx.Err() == nil {
		s.log.Error("prune diagnostics requests", "err", err)
	} else if n > 0 {
		s.log.Info("pruned diagnostics requests", "deleted", n)
	}
	n, err = s.Store.PruneBundles(ctx, time.Now().Add(-s.cfg.BundleRetention))
	if err != nil && ctx.Err() == nil {
		s.log.Error("prune support bundles", "err", err)
	} else if n > 0 {
		s.log.Info("pruned support bundles", "deleted", n, "retention", s.cfg.BundleRetention)
	}
}

// diagnosticsKept is how long a diagnostics request and its answer stay
// in the store: its callers have long had it.
const diagnosticsKept = time.Hour
