package api

import (
	"math"
	"net/http"
	"time"

	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/rules"
)

// DefaultHistory is the range of the agents' histories when from is not
// given.
const DefaultHistory = 7 * 24 * time.Hour

// historyRange reads from and to (RFC 3339; to defaults to now, from to
// DefaultHistory before to), refusing a range that is empty, reversed or
// longer than fleet.MaxRange, naming the parameter at fault.
func historyRange(r *http.Request, now time.Time) (time.Time, time.Time, error) {
	q := r.URL.Query()
	parse := func(name string, def time.Time) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, errorf(http.StatusBadRequest, CodeBadParameter, "%s: %q is not an RFC 3339 time", name, v)
		}
		return t.UTC(), nil
	}
	to, err := parse("to", now.UTC())
	if err != nil {
		return to, to, err
	}
	from, err := parse("from", to.Add(-DefaultHistory))
	if err != nil {
		return from, to, err
	}
	switch {
	case !from.Before(to):
		return from, to, errorf(http.StatusBadRequest, CodeBadParameter, "from: must be before to")
	case to.Sub(from) > fleet.MaxRange:
		return from, to, errorf(http.StatusBadRequest, CodeBadParameter, "from: the range is at most 90 days")
	}
	return from, to, nil
}

// intervalView is one span of an agent's connectivity.
type intervalView struct {
	Status    string `json:"status"`
	Start     string `json:"start"`
	End       string `json:"end"`
	EndReason string `json:"endReason,omitempty"`
}

// connectivityView is an agent's connectivity over a range.
type connectivityView struct {
	AgentID       string         `json:"agentId"`
	From          string         `json:"from"`
	To            string         `json:"to"`
	UptimePercent *float64       `json:"uptimePercent"`
	Disconnects   int            `json:"disconnects"`
	OnlineSeconds int64          `json:"onlineSeconds"`
	OfflineSecs   int64          `json:"offlineSeconds"`
	Intervals     []intervalView `json:"intervals"`
}

func (s *Server) getConnectivity(w http.ResponseWriter, r *http.Request) error {
	from, to, err := historyRange(r, s.now())
	if err != nil {
		return err
	}
	id := r.PathValue("agentId")
	c, err := s.fleet.Connectivity(r.Context(), id, from, to)
	if err != nil {
		return err
	}
	v := connectivityView{AgentID: id, From: apiTime(from), To: apiTime(to), Disconnects: c.Disconnects,
		OnlineSeconds: int64(c.Online / time.Second), OfflineSecs: int64(c.Offline / time.Second), Intervals: []intervalView{}}
	if p, ok := c.UptimePercent(); ok {
		p = math.Round(p*100) / 100
		v.UptimePercent = &p
	}
	for _, iv := range c.Intervals {
		v.Intervals = append(v.Intervals, intervalView{Status: iv.State, Start: apiTime(iv.Start), End: apiTime(iv.End), EndReason: iv.EndReason})
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// roundTripsView is an agent's round trips over a range.
type roundTripsView struct {
	AgentID string `json:"agentId"`
	From    string `json:"from"`
	To      string `json:"to"`
	// ResolutionSeconds is 60 (a sample a minute) or 3600 (an hour's
	// largest).
	ResolutionSeconds int               `json:"resolutionSeconds"`
	Samples           []roundTripSample `json:"samples"`
}

type roundTripSample struct {
	At     string `json:"at"`
	Millis int64  `json:"roundTripMs"`
}

func (s *Server) getRoundTrips(w http.ResponseWriter, r *http.Request) error {
	from, to, err := historyRange(r, s.now())
	if err != nil {
		return err
	}
	id := r.PathValue("agentId")
	res, samples, err := s.fleet.RoundTrips(r.Context(), id, from, to)
	if err != nil {
		return err
	}
	v := roundTripsView{AgentID: id, From: apiTime(from), To: apiTime(to), ResolutionSeconds: int(res / time.Second),
		Samples: make([]roundTripSample, len(samples))}
	for i, x := range samples {
		v.Samples[i] = roundTripSample{At: apiTime(x.At), Millis: x.Millis}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// fleetView is GET /fleet's answer.
type fleetView struct {
	At     string          `json:"at"`
	Agents fleetAgentsView `json:"agents"`
	// DatasetsLast24Hours counts the datasets requested in the last 24
	// hours by their status now.
	DatasetsLast24Hours map[string]int `json:"datasetsLast24Hours"`
	ErrorsByDataType    []countView    `json:"errorsByDataType"`
	ErrorsByAgent       []countView    `json:"errorsByAgent"`
}

type fleetAgentsView struct {
	Total          int                `json:"total"`
	Online         int                `json:"online"`
	Offline        int                `json:"offline"`
	OfflineOverDay int                `json:"offlineOver24Hours"`
	Revoked        int                `json:"revoked"`
	ByVersion      []countView        `json:"byVersion"`
	ByOS           []countView        `json:"byOs"`
	LongestOffline []offlineAgentView `json:"longestOffline"`
}

type countView struct {
	Name   string `json:"name"`
	Count  int    `json:"count"`
	Online *int   `json:"online,omitempty"`
}

type offlineAgentView struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname,omitempty"`
	LastSeen string `json:"lastSeen"`
}

func countViews(cs []rules.Count, online bool) []countView {
	out := make([]countView, len(cs))
	for i, c := range cs {
		out[i] = countView{Name: c.Name, Count: c.N}
		if online {
			out[i].Online = &cs[i].Online
		}
	}
	return out
}

func (s *Server) getFleet(w http.ResponseWriter, r *http.Request) error {
	sum, err := s.fleet.Summary(r.Context())
	if err != nil {
		return err
	}
	v := fleetView{At: apiTime(sum.At), DatasetsLast24Hours: map[string]int{},
		ErrorsByDataType: countViews(sum.ErrorTypes, false), ErrorsByAgent: countViews(sum.ErrorAgents, false),
		Agents: fleetAgentsView{Total: sum.FleetAgents.Agents, Online: sum.Online, Offline: sum.Offline, OfflineOverDay: sum.OfflineOverDay,
			Revoked: sum.Revoked, ByVersion: countViews(sum.Versions, true), ByOS: countViews(sum.OSes, true),
			LongestOffline: []offlineAgentView{}}}
	for st, n := range sum.Datasets {
		v.DatasetsLast24Hours[string(st)] = n
	}
	for _, a := range sum.LongestOffline {
		seen := a.LastSeen
		if seen.IsZero() {
			seen = a.Created
		}
		v.Agents.LongestOffline = append(v.Agents.LongestOffline, offlineAgentView{ID: a.ID, Hostname: a.Hostname, LastSeen: apiTime(seen)})
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
