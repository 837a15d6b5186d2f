package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Rollouts of the agent's releases: POST /agentReleases/{version}/rollout
// starts one, GET reports it, POST .../pause, .../resume and .../halt
// steer it. The store keeps it; the engine on the leader moves it on
// (coordinator/rollout, with the rules of coordinator/rules).

// rolloutRequest is the body of POST .../rollout.
type rolloutRequest struct {
	CanaryCount   *int  `json:"canaryCount"`
	MaxInFlight   *int  `json:"maxInFlight"`
	HaltOnFailure *bool `json:"haltOnFailure"`
}

// rolloutView is a rollout in the API.
type rolloutView struct {
	Version       string              `json:"version"`
	Status        string              `json:"status"`
	CanaryCount   int                 `json:"canaryCount"`
	MaxInFlight   int                 `json:"maxInFlight"`
	HaltOnFailure bool                `json:"haltOnFailure"`
	Created       string              `json:"created"`
	Updated       int                 `json:"updated"`
	Failed        int                 `json:"failed"`
	Pending       int                 `json:"pending"`
	InFlight      int                 `json:"inFlight"`
	HaltReason    string              `json:"haltReason,omitempty"`
	Canaries      []rolloutMemberView `json:"canaries"`
	Agents        []rolloutMemberView `json:"agents"`
}

// rolloutMemberView is one agent of a rollout.
type rolloutMemberView struct {
	AgentID string `json:"agentId"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

func viewOfRollout(r store.Rollout) rolloutView {
	v := rolloutView{Version: r.Version, Status: string(r.Status), CanaryCount: r.CanaryCount, MaxInFlight: r.MaxInFlight,
		HaltOnFailure: r.HaltOnFailure, Created: apiTime(r.Created), HaltReason: r.HaltReason,
		Canaries: []rolloutMemberView{}, Agents: []rolloutMemberView{}}
	for _, m := range r.Members {
		mv := rolloutMemberView{AgentID: m.AgentID, Status: string(m.Status), Reason: m.Reason}
		if m.Canary {
			v.Canaries = append(v.Canaries, mv)
		}
		v.Agents = append(v.Agents, mv)
		switch m.Status {
		case store.MemberUpdated:
			v.Updated++
		case store.MemberFailed:
			v.Failed++
		case store.MemberPending:
			v.Pending++
		case store.MemberUpdating:
			v.InFlight++
		}
	}
	return v
}

// startRollout serves POST /agentReleases/{version}/rollout: a rollout of
// a verified release, while no other is Running or Paused.
func (s *Server) startRollout(w http.ResponseWriter, r *http.Request) error {
	version := r.PathValue("version")
	var req rolloutRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	canary, inFlight, halt := 1, 1, true
	if req.CanaryCount != nil {
		canary = *req.CanaryCount
	}
	if req.MaxInFlight != nil {
		inFlight = *req.MaxInFlight
	}
	if req.HaltOnFailure != nil {
		halt = *req.HaltOnFailure
	}
	if canary < 0 || canary > rules.MaxCanaries {
		return errorf(http.StatusBadRequest, CodeInvalidField, "canaryCount: must be 0 to %d", rules.MaxCanaries)
	}
	if inFlight < 1 || inFlight > rules.MaxInFlight {
		return errorf(http.StatusBadRequest, CodeInvalidField, "maxInFlight: must be 1 to %d", rules.MaxInFlight)
	}
	if err := s.verifiedRelease(version); err != nil {
		return err
	}
	agents, err := s.store.Agents(r.Context())
	if err != nil {
		return err
	}
	chs, err := s.store.Channels(r.Context())
	if err != nil {
		return err
	}
	online := map[string]bool{}
	for _, c := range chs {
		online[c.AgentID] = c.Replica != ""
	}
	ro := rules.NewRollout(version, canary, inFlight, halt, agents, online,
		func(a store.Agent) bool { return slices.Contains(a.Features, protocol.FeatureUpdate) }, s.now())
	err = s.store.CreateRollout(r.Context(), ro)
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, CodeConflict, "another rollout is Running or Paused: halt it first")
	}
	if err != nil {
		return err
	}
	s.log.Info("rollout started", "version", version, "agents", len(ro.Members), "canaryCount", canary, "maxInFlight", inFlight)
	writeJSON(w, http.StatusCreated, viewOfRollout(ro))
	return nil
}

// verifiedRelease refuses a version the catalog does not hold (404) or
// did not verify (409, with the reason).
func (s *Server) verifiedRelease(version string) error {
	if s.releases == nil {
		return errorf(http.StatusNotFound, CodeNotFound, "no agent release %q: the coordinator has no --downloads", version)
	}
	rel, ok := s.releases.Get(version)
	if !ok {
		return errorf(http.StatusNotFound, CodeNotFound, "no agent release %q", version)
	}
	if !rel.Verified {
		msg := rel.Reason
		if rel.Err != nil {
			msg += ": " + rel.Err.Error()
		}
		return errorf(http.StatusConflict, CodeConflict, "agent release %s is not verified (%s): it cannot be rolled out", version, msg)
	}
	return nil
}

// getRollout serves GET /agentReleases/{version}/rollout.
func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) error {
	ro, err := s.store.Rollout(r.Context(), r.PathValue("version"))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeNotFound, "no rollout of %q", r.PathValue("version"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOfRollout(ro))
	return nil
}

// steerRollout serves POST .../pause, .../resume and .../halt: the move
// from the statuses it may be made from to to.
func (s *Server) steerRollout(to store.RolloutStatus, from ...store.RolloutStatus) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		version := r.PathValue("version")
		ro, err := s.store.UpdateRollout(r.Context(), version, func(ro *store.Rollout) error {
			if ro.Status == to {
				return nil
			}
			if !slices.Contains(from, ro.Status) {
				return errorf(http.StatusConflict, CodeConflict, "the rollout of %s is %s: it cannot become %s", version, ro.Status, to)
			}
			ro.Status = to
			if to == store.RolloutHalted {
				ro.HaltReason = "halted through the API"
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, CodeNotFound, "no rollout of %q", version)
		}
		if err != nil {
			return err
		}
		s.log.Info("rollout steered", "version", version, "status", ro.Status)
		writeJSON(w, http.StatusOK, viewOfRollout(ro))
		return nil
	}
}
