package portal

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Agents is what the Portal needs of the hub for the agents pages; the
// hub is the one implementation.
type Agents interface {
	// AgentState returns one agent's state (store.ErrNotFound).
	AgentState(ctx context.Context, agentID string) (hub.AgentState, error)
	// AgentStates returns every agent's state, oldest first.
	AgentStates(ctx context.Context) ([]hub.AgentState, error)
	// OnlineCount is how many agents are online across the replicas.
	OnlineCount() int
	// MinimumVersion is the oldest agent version given work
	// (--min-agent-version); "" for none.
	MinimumVersion() string
	// Diagnose asks an online agent to check itself (hub.ErrOffline,
	// hub.ErrNoAnswer).
	Diagnose(ctx context.Context, agentID string) (hub.DiagnosticsReport, error)
	// RevokeAgent revokes an agent's credential and closes its live
	// connection (store.ErrNotFound).
	RevokeAgent(ctx context.Context, agentID, why string) error
}

// eventsPage is how many events the agent page lists at a time.
const eventsPage = 20

// agentView is an agent on the agents pages.
type agentView struct {
	hub.AgentState
	Conns []agentConnView
}

// agentConnView is a connection bound to an agent, with its company.
type agentConnView struct {
	store.Connection
	CompanyName string
	// Served: the online agent serves it now.
	Served bool
}

type agentsData struct {
	Agents []agentView
	Online int
}

type agentData struct {
	Agent  agentView
	Events []store.AgentEvent
	// Before is the event the list starts after ("" for the newest);
	// Older the id to page on from, "" when there is nothing older.
	Before, Older string
}

type agentPageData struct {
	Live      agentData
	CSRF      string
	CanRevoke bool
	// Diag is the report of diagnostics just run, nil when none.
	Diag *diagView
	// Strip is the agent's last 30 days; RoundTrip its last day's round
	// trips; Defs the strip's patterns.
	Strip     stripView
	RoundTrip lineView
	Defs      template.HTML
}

// diagView is the outcome of "Run diagnostics": a report, or why there
// is none.
type diagView struct {
	AgentID string
	Error   string
	Report  hub.DiagnosticsReport
	Healthy bool
}

func (h *Handler) agentsPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := h.agentsData(r.Context())
	if err != nil {
		h.internal(w, r, s, err)
		return
	}
	h.render(w, r, http.StatusOK, "agents", h.signedPage(r.Context(), s, "Agents", d))
}

// agentsData reads every agent, online ones first, then the most recently
// seen.
func (h *Handler) agentsData(ctx context.Context) (agentsData, error) {
	states, err := h.agents.AgentStates(ctx)
	if err != nil {
		return agentsData{}, err
	}
	names := map[string]string{}
	d := agentsData{Agents: make([]agentView, len(states))}
	for i, st := range states {
		if d.Agents[i], err = h.agentView(ctx, st, names); err != nil {
			return agentsData{}, err
		}
		if st.Online {
			d.Online++
		}
	}
	slices.SortStableFunc(d.Agents, func(a, b agentView) int {
		if a.Online != b.Online {
			if a.Online {
				return -1
			}
			return 1
		}
		return cmp.Compare(lastSeen(b), lastSeen(a))
	})
	return d, nil
}

func lastSeen(a agentView) int64 {
	if a.Online {
		return a.Live.LastSeen.UnixNano()
	}
	return a.Agent.LastSeen.UnixNano()
}

// agentView adds the company names of an agent's connections; names
// caches them across agents.
func (h *Handler) agentView(ctx context.Context, st hub.AgentState, names map[string]string) (agentView, error) {
	v := agentView{AgentState: st}
	for _, c := range st.Connections {
		name, ok := names[c.CompanyID]
		if !ok {
			co, err := h.store.Company(ctx, c.CompanyID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return agentView{}, err
			}
			name, names[c.CompanyID] = co.Name, co.Name
		}
		v.Conns = append(v.Conns, agentConnView{Connection: c, CompanyName: name,
			Served: st.Online && slices.Contains(st.Live.Connections, c.ID)})
	}
	return v, nil
}

func (h *Handler) agentsLive(w http.ResponseWriter, r *http.Request, s *session) {
	h.stream(w, r, s, h.fragment("agents", "agents-live", func(r *http.Request) (any, error) {
		return h.agentsData(r.Context())
	}))
}

func (h *Handler) agentPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := h.agentData(r)
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such agent.")
		return
	}
	p := agentPageData{Live: d, CSRF: s.csrf, CanRevoke: s.scope == store.ScopeClient && d.Agent.Agent.Revoked.IsZero(),
		Diag: h.sessions.takeDiag(r.Context(), s, d.Agent.Agent.ID), Defs: stripDefs}
	if p.Strip, err = h.agentStrip(r.Context(), d.Agent.Agent.ID); err == nil {
		p.RoundTrip, err = h.roundTripChart(r.Context(), d.Agent.Agent.ID)
	}
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such agent.")
		return
	}
	title := "Agent " + d.Agent.Agent.ID
	if d.Agent.Agent.Hostname != "" {
		title = "Agent " + d.Agent.Agent.Hostname
	}
	h.render(w, r, http.StatusOK, "agent", h.signedPage(r.Context(), s, title, p))
}

// agentData reads the request's agent and a page of its events, newest
// first, starting after the event named by the "before" query parameter.
func (h *Handler) agentData(r *http.Request) (agentData, error) {
	ctx := r.Context()
	st, err := h.agents.AgentState(ctx, r.PathValue("agentId"))
	if err != nil {
		return agentData{}, err
	}
	d := agentData{}
	if d.Agent, err = h.agentView(ctx, st, map[string]string{}); err != nil {
		return agentData{}, err
	}
	events, err := h.store.AgentEvents(ctx, st.Agent.ID)
	if err != nil {
		return agentData{}, err
	}
	if before := r.URL.Query().Get("before"); before != "" {
		i := slices.IndexFunc(events, func(e store.AgentEvent) bool { return e.ID == before })
		if i < 0 {
			return agentData{}, fmt.Errorf("event %.64q: %w", before, store.ErrNotFound)
		}
		d.Before, events = before, events[i+1:]
	}
	if len(events) > eventsPage {
		events = events[:eventsPage]
		d.Older = events[len(events)-1].ID
	}
	d.Events = events
	return d, nil
}

func (h *Handler) agentLive(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := h.agentData(r); err != nil {
		h.storeFail(w, r, s, err, "There is no such agent.")
		return
	}
	h.stream(w, r, s, h.fragment("agent", "agent-live", func(r *http.Request) (any, error) {
		return h.agentData(r)
	}))
}

// fragment is a live part that is re-rendered on every tick and sent when
// it differs from the last one sent.
func (h *Handler) fragment(page, name string, read func(*http.Request) (any, error)) fragmentFunc {
	return func(r *http.Request, last []byte) ([]byte, []byte, bool, error) {
		d, err := read(r)
		if err != nil {
			return nil, nil, false, err
		}
		var buf bytes.Buffer
		if err := pages[page].ExecuteTemplate(&buf, name, d); err != nil {
			return nil, nil, false, err
		}
		if bytes.Equal(buf.Bytes(), last) {
			return last, nil, false, nil
		}
		return buf.Bytes(), buf.Bytes(), false, nil
	}
}

// diagnose runs an agent's diagnostics and shows the report (or why there
// is none) on the agent's page (post/redirect/get). It changes nothing on
// the agent, so a support key may run it, as in the API.
func (h *Handler) diagnose(w http.ResponseWriter, r *http.Request, s *session) {
	st, err := h.agents.AgentState(r.Context(), r.PathValue("agentId"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such agent.")
		return
	}
	id := st.Agent.ID
	ctx, cancel := context.WithTimeout(r.Context(), hub.DiagnoseTimeout)
	defer cancel()
	rep, err := h.agents.Diagnose(ctx, id)
	v := &diagView{AgentID: id, Report: rep, Healthy: rep.Healthy()}
	switch {
	case errors.Is(err, hub.ErrOffline):
		v.Error = "The agent is offline: diagnostics need its live connection. " + lastSeenText(st.Agent)
	case errors.Is(err, hub.ErrNoAnswer):
		v.Error = "The agent did not answer within " + hub.DiagnoseTimeout.String() + "."
	case err != nil:
		h.internal(w, r, s, err)
		return
	}
	h.log.Info("agent diagnostics from the Portal", "agent", id, "apiKey", s.keyID, "ran", err == nil, "healthy", err == nil && v.Healthy)
	h.sessions.setDiag(r.Context(), s, v)
	http.Redirect(w, r, "/portal/agents/"+id+"#diagnostics", http.StatusSeeOther)
}

// lastSeenText says when an offline agent was last seen.
func lastSeenText(a store.Agent) string {
	if a.LastSeen.IsZero() {
		return "It has never connected."
	}
	return "It was last seen " + a.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC") + "."
}

// checkClass is a diagnostics check's badge class.
func checkClass(s protocol.CheckStatus) string {
	switch s {
	case protocol.CheckPass:
		return "ok"
	case protocol.CheckFail:
		return "bad"
	}
	return "warn"
}

// revokePage asks to confirm revoking an agent's credential.
func (h *Handler) revokePage(w http.ResponseWriter, r *http.Request, s *session) {
	st, ok := h.revocable(w, r, s)
	if !ok {
		return
	}
	v, err := h.agentView(r.Context(), st, map[string]string{})
	if err != nil {
		h.internal(w, r, s, err)
		return
	}
	h.render(w, r, http.StatusOK, "revoke", h.signedPage(r.Context(), s, "Revoke agent "+st.Agent.ID, v))
}

// revoke revokes an agent's credential, as the API's revoke does.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, s *session) {
	st, ok := h.revocable(w, r, s)
	if !ok {
		return
	}
	if err := h.agents.RevokeAgent(r.Context(), st.Agent.ID, "revoked in the Portal"); err != nil {
		h.storeFail(w, r, s, err, "There is no such agent.")
		return
	}
	h.log.Info("agent credential revoked", "agent", st.Agent.ID, "apiKey", s.keyID)
	h.sessions.setFlash(r.Context(), s, "The agent's credential is revoked: it can no longer connect, and its connections need a new link.", false)
	http.Redirect(w, r, "/portal/agents/"+st.Agent.ID, http.StatusSeeOther)
}

// revocable checks that the session may revoke and the agent exists.
func (h *Handler) revocable(w http.ResponseWriter, r *http.Request, s *session) (hub.AgentState, bool) {
	if s.scope != store.ScopeClient {
		h.fail(w, r, s, http.StatusForbidden, "A "+string(s.scope)+" key may not revoke an agent's credential.")
		return hub.AgentState{}, false
	}
	st, err := h.agents.AgentState(r.Context(), r.PathValue("agentId"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such agent.")
		return hub.AgentState{}, false
	}
	return st, true
}
