package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Agents is what the API needs of the hub for the support endpoints; the
// hub is the one implementation.
type Agents interface {
	// AgentState returns one agent's state (store.ErrNotFound).
	AgentState(ctx context.Context, agentID string) (hub.AgentState, error)
	// AgentStates returns every agent's state, oldest first.
	AgentStates(ctx context.Context) ([]hub.AgentState, error)
	// Diagnose asks an online agent to check itself (hub.ErrOffline,
	// hub.ErrNoAnswer).
	Diagnose(ctx context.Context, agentID string) (hub.DiagnosticsReport, error)
	// RevokeAgent revokes an agent's credential and closes its live
	// connection (store.ErrNotFound).
	RevokeAgent(ctx context.Context, agentID, why string) error
	// RequestBundle asks an online agent for a support bundle
	// (store.ErrNotFound, hub.ErrOffline, hub.ErrUnsupported).
	RequestBundle(ctx context.Context, agentID string) (store.SupportBundle, error)
	// SetLogLevel raises an online agent's log level for d
	// (store.ErrNotFound, hub.ErrOffline, hub.ErrUnsupported).
	SetLogLevel(ctx context.Context, agentID, level string, d time.Duration) (store.Agent, error)
	// SetUpdatePolicy sets an agent's update policy (store.ErrNotFound).
	SetUpdatePolicy(ctx context.Context, agentID, policy string) (store.Agent, error)
}

// The agent statuses.
const (
	agentOnline  = "Online"
	agentOffline = "Offline"
)

// agentView is an agent as support staff see it.
type agentView struct {
	ID              string `json:"id"`
	Hostname        string `json:"hostname,omitempty"`
	OS              string `json:"os,omitempty"`
	AgentVersion    string `json:"agentVersion,omitempty"`
	Status          string `json:"status"`
	ReplicaID       string `json:"replicaId,omitempty"`
	Created         string `json:"created"`
	ConnectedSince  string `json:"connectedSince,omitempty"`
	LastSeen        string `json:"lastSeen,omitempty"`
	RemoteAddress   string `json:"remoteAddress,omitempty"`
	RoundTripMillis *int64 `json:"roundTripMs,omitempty"`
	Revoked         string `json:"revoked,omitempty"`
	// LogLevel is the log level support raised the agent's to, until
	// LogLevelUntil; both left out when none is raised now.
	LogLevel      string `json:"logLevel,omitempty"`
	LogLevelUntil string `json:"logLevelUntil,omitempty"`
	// UpdatePolicy is auto or pinned (store.Agent.Policy).
	UpdatePolicy string `json:"updatePolicy"`
	// BelowMinimumVersion: the agent's version is below MinimumVersion,
	// the coordinator's --min-agent-version; it gets no work until it
	// updates. MinimumVersion is left out when there is none.
	BelowMinimumVersion bool                 `json:"belowMinimumVersion"`
	MinimumVersion      string               `json:"minimumVersion,omitempty"`
	Connections         []agentConnection    `json:"connections"`
	DatasetsInHand      []agentDatasetInHand `json:"datasetsInHand"`
	// Update is the agent's last update, as it reported it; left out
	// before its first.
	Update *agentUpdateView `json:"update,omitempty"`
}

// agentUpdateView is an agent's last update.
type agentUpdateView struct {
	Version string `json:"version"`
	From    string `json:"from,omitempty"`
	Status  string `json:"status"`
	Step    string `json:"step,omitempty"`
	Reason  string `json:"reason,omitempty"`
	At      string `json:"at"`
}

// agentConnection is one connection bound to an agent.
type agentConnection struct {
	ID          string `json:"id"`
	CompanyID   string `json:"companyId"`
	PlatformKey string `json:"platformKey"`
	Status      string `json:"status"`
	// Served: the online agent serves it now (its hello listed it).
	Served bool `json:"served"`
}

// agentDatasetInHand is a dataset an online agent works on, from its last
// heartbeat.
type agentDatasetInHand struct {
	ID        string `json:"id"`
	CompanyID string `json:"companyId,omitempty"`
	DataType  string `json:"dataType,omitempty"`
	Status    string `json:"status,omitempty"`
	Progress  int    `json:"progress"`
}

func viewOfAgent(st hub.AgentState) agentView {
	a := st.Agent
	v := agentView{
		ID: a.ID, Hostname: a.Hostname, OS: a.OS, AgentVersion: a.Version, Status: agentOffline,
		Created: apiTime(a.Created), LastSeen: apiTime(a.LastSeen), Revoked: apiTime(a.Revoked),
		Connections: []agentConnection{}, DatasetsInHand: []agentDatasetInHand{},
		UpdatePolicy: a.Policy(), BelowMinimumVersion: st.BelowMinimum, MinimumVersion: st.MinimumVersion,
	}
	if a.LogLevel != "" && a.LogLevelUntil.After(time.Now()) {
		v.LogLevel, v.LogLevelUntil = a.LogLevel, apiTime(a.LogLevelUntil)
	}
	if u := a.Update; u != nil {
		v.Update = &agentUpdateView{Version: u.Version, From: u.From, Status: string(u.Status), Step: u.Step, Reason: u.Reason, At: apiTime(u.At)}
	}
	for _, c := range st.Connections {
		v.Connections = append(v.Connections, agentConnection{ID: c.ID, CompanyID: c.CompanyID,
			PlatformKey: c.PlatformKey, Status: string(c.Status), Served: st.Online && slices.Contains(st.Live.Connections, c.ID)})
	}
	if !st.Online {
		return v
	}
	v.Status, v.ReplicaID = agentOnline, st.ReplicaID
	live := st.Live
	if live.ConnectedSince.IsZero() {
		return v // held by another replica, which knows the rest
	}
	v.ConnectedSince, v.LastSeen = apiTime(live.ConnectedSince), apiTime(live.LastSeen)
	v.RemoteAddress, v.RoundTripMillis = live.RemoteAddress, &live.RoundTripMillis
	for _, d := range st.InHand {
		v.DatasetsInHand = append(v.DatasetsInHand, agentDatasetInHand{ID: d.ID, CompanyID: d.CompanyID,
			DataType: string(d.DataType), Status: string(d.Status), Progress: d.Progress})
	}
	return v
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error {
	states, err := s.agents.AgentStates(r.Context())
	if err != nil {
		return err
	}
	views := make([]agentView, len(states))
	for i, st := range states {
		views[i] = viewOfAgent(st)
	}
	return writePage(w, r, views)
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) error {
	st, err := s.agents.AgentState(r.Context(), r.PathValue("agentId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOfAgent(st))
	return nil
}

// agentEventView is one agent event.
type agentEventView struct {
	ID            string `json:"id"`
	AgentID       string `json:"agentId"`
	Type          string `json:"type"`
	At            string `json:"at"`
	Reason        string `json:"reason,omitempty"`
	Detail        string `json:"detail,omitempty"`
	DatasetID     string `json:"datasetId,omitempty"`
	RemoteAddress string `json:"remoteAddress,omitempty"`
}

func (s *Server) listAgentEvents(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agentId")
	if _, err := s.store.Agent(r.Context(), id); err != nil {
		return err
	}
	events, err := s.store.AgentEvents(r.Context(), id)
	if err != nil {
		return err
	}
	views := make([]agentEventView, len(events))
	for i, e := range events {
		views[i] = agentEventView{ID: e.ID, AgentID: e.AgentID, Type: string(e.Type), At: apiTime(e.At),
			Reason: e.Reason, Detail: e.Detail, DatasetID: e.DatasetID, RemoteAddress: e.RemoteAddress}
	}
	return writePage(w, r, views)
}

// diagnosticsView is an agent's diagnostics report.
type diagnosticsView struct {
	AgentID         string           `json:"agentId"`
	AgentVersion    string           `json:"agentVersion"`
	Hostname        string           `json:"hostname"`
	OS              string           `json:"os"`
	RequestedAt     string           `json:"requestedAt"`
	ReceivedAt      string           `json:"receivedAt"`
	AgentTime       string           `json:"agentTime"`
	RoundTripMillis int64            `json:"roundTripMs"`
	ClockSkewMillis int64            `json:"clockSkewMs"`
	Healthy         bool             `json:"healthy"`
	Checks          []protocol.Check `json:"checks"`
}

func (s *Server) diagnoseAgent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agentId")
	if _, err := s.store.Agent(r.Context(), id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), hub.DiagnoseTimeout)
	defer cancel()
	rep, err := s.agents.Diagnose(ctx, id)
	switch {
	case errors.Is(err, hub.ErrOffline):
		return errorf(http.StatusConflict, CodeAgentOffline, "agent %s is offline", id)
	case errors.Is(err, hub.ErrNoAnswer):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeAgentTimeout, Retry: true,
			Message: "the agent did not answer within " + hub.DiagnoseTimeout.String()}
	case err != nil:
		return err
	}
	v := diagnosticsView{
		AgentID: id, AgentVersion: rep.AgentVersion, Hostname: rep.Hostname, OS: rep.OS,
		RequestedAt: apiTime(rep.RequestedAt), ReceivedAt: apiTime(rep.ReceivedAt), AgentTime: apiTime(rep.AgentTime),
		RoundTripMillis: rep.RoundTripMillis, ClockSkewMillis: rep.ClockSkewMillis, Healthy: rep.Healthy(), Checks: rep.Checks,
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// revokeAgent revokes an agent's credential (hub.Hub.RevokeAgent): every
// later call with it is refused, its Linked connections become
// Deauthorized, and its live connection is closed.
func (s *Server) revokeAgent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agentId")
	if err := s.agents.RevokeAgent(r.Context(), id, "revoked through the API"); err != nil {
		return err
	}
	st, err := s.agents.AgentState(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOfAgent(st))
	return nil
}
