package api

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// agentPatch is the body of PATCH /agents/{agentId}: what support may
// change of an agent. logLevel and for go together: the agent logs at
// logLevel for that long, then falls back to its own level by itself.
type agentPatch struct {
	LogLevel *string `json:"logLevel"`
	For      *string `json:"for"`
}

// validate checks the patch and returns the level and how long it lasts.
func (p agentPatch) validate() (string, time.Duration, error) {
	if p.LogLevel == nil && p.For == nil {
		return "", 0, errorf(http.StatusBadRequest, CodeInvalidField, "logLevel: nothing to change; send logLevel and for")
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

// patchAgent changes what support may change of an agent: its log level,
// raised for a while (hub.Hub.SetLogLevel).
func (s *Server) patchAgent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agentId")
	var p agentPatch
	if err := decodeBody(w, r, &p); err != nil {
		return err
	}
	level, d, err := p.validate()
	if err != nil {
		return err
	}
	if _, err := s.store.Agent(r.Context(), id); err != nil {
		return err
	}
	_, err = s.agents.SetLogLevel(r.Context(), id, level, d)
	switch {
	case errors.Is(err, hub.ErrOffline):
		return errorf(http.StatusConflict, CodeAgentOffline, "agent %s is offline", id)
	case errors.Is(err, hub.ErrUnsupported):
		return errorf(http.StatusConflict, CodeAgentUnsupported,
			"agent %s is a version that cannot change its log level from afar; upgrade it", id)
	case err != nil:
		return err
	}
	return s.getAgent(w, r)
}
