package api

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// agentPatch is the body of PATCH /agents/{agentId}. logLevel and for go
// together, and support may send them: the agent logs at logLevel for
// that long, then falls back to its own level by itself. updatePolicy
// (auto or pinned) needs a client key.
type agentPatch struct {
	LogLevel     *string `json:"logLevel"`
	For          *string `json:"for"`
	UpdatePolicy *string `json:"updatePolicy"`
}

// validate checks the patch and returns the level and how long it lasts
// (none when the patch sets only the update policy).
func (p agentPatch) validate(scope store.Scope) (string, time.Duration, error) {
	if p.UpdatePolicy != nil {
		if scope != store.ScopeClient {
			return "", 0, errorf(http.StatusForbidden, CodeForbidden, "updatePolicy: a %s key may not change it; a client key may", scope)
		}
		if *p.UpdatePolicy != store.UpdateAuto && *p.UpdatePolicy != store.UpdatePinned {
			return "", 0, errorf(http.StatusBadRequest, CodeInvalidField, "updatePolicy: must be auto or pinned")
		}
		if p.LogLevel == nil && p.For == nil {
			return "", 0, nil
		}
	}
	if p.LogLevel == nil && p.For == nil {
		return "", 0, errorf(http.StatusBadRequest, CodeInvalidField, "logLevel: nothing to change; send logLevel and for, or updatePolicy")
	}
	if p.LogLevel == nil || !slices.Contains(protocol.LogLevels, *p.LogLevel) {
		return "", 0, errorf(http.StatusBadRequest, CodeInvalidField, "logLevel: must be one of debug, info, warn, error")
	}
	if p.For == nil {
		return "", 0, errorf(http.StatusBadRequest, CodeInvalidField, "for: how long the level lasts is required, e.g. \"30m\"")
	}
	d, err := time.ParseDuration(*p.For)
	if err != nil || d < time.Second || d > protocol.MaxLogLevelFor {
		return "", 0, errorf(http.StatusBadRequest, CodeInvalidField, "for: must be a duration from 1s to %s, e.g. \"30m\"", protocol.MaxLogLevelFor)
	}
	return *p.LogLevel, d, nil
}

// patchAgent changes an agent: its log level, raised for a while
// (hub.Hub.SetLogLevel), and its update policy (hub.Hub.SetUpdatePolicy),
// the level first: a level refused changes nothing.
func (s *Server) patchAgent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agentId")
	var p agentPatch
	if err := decodeBody(w, r, &p); err != nil {
		return err
	}
	level, d, err := p.validate(scopeOf(r))
	if err != nil {
		return err
	}
	if _, err := s.store.Agent(r.Context(), id); err != nil {
		return err
	}
	if level != "" {
		if err := s.setLogLevel(r, id, level, d); err != nil {
			return err
		}
	}
	if p.UpdatePolicy != nil {
		if _, err := s.agents.SetUpdatePolicy(r.Context(), id, *p.UpdatePolicy); err != nil {
			return err
		}
	}
	return s.getAgent(w, r)
}

// setLogLevel raises an online agent's log level for d.
func (s *Server) setLogLevel(r *http.Request, id, level string, d time.Duration) error {
	_, err := s.agents.SetLogLevel(r.Context(), id, level, d)
	switch {
	case errors.Is(err, hub.ErrOffline):
		return errorf(http.StatusConflict, CodeAgentOffline, "agent %s is offline", id)
	case errors.Is(err, hub.ErrUnsupported):
		return errorf(http.StatusConflict, CodeAgentUnsupported,
			"agent %s is a version that cannot change its log level from afar; upgrade it", id)
	}
	return err
}
