package portal

import (
	"context"
	"net/http"
	"time"

	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/rules"
)

// stripDays is the span of the agents' strips.
const stripDays = 30

// fleetData is the fleet page.
type fleetData struct {
	fleet.Summary
	OnlineChart lineView
	// Moves are the datasets requested in the last 24 hours by their
	// status now; Failing those in an error status.
	Failing []rules.Count
	Moves   []rules.Count
	// Minimum is the coordinator's minimum agent version ("" for none);
	// Below the versions of the Versions table under it.
	Minimum string
	Below   map[string]bool
}

func (h *Handler) fleetPage(w http.ResponseWriter, r *http.Request, s *session) {
	sum, err := h.fleet.Summary(r.Context())
	if err != nil {
		h.storeFail(w, r, s, err, "")
		return
	}
	now := h.now()
	pts := make([]point, len(sum.OnlineHistory))
	for i, p := range sum.OnlineHistory {
		pts[i] = point{At: p.At, Value: float64(p.Online)}
	}
	d := fleetData{Summary: sum, OnlineChart: lineChart(pts, now.Add(-fleet.Day), now, "Agents online", "agents")}
	for st, n := range sum.Datasets {
		if n == 0 {
			continue
		}
		d.Moves = append(d.Moves, rules.Count{Name: string(st), N: n})
		if st.IsError() {
			d.Failing = append(d.Failing, rules.Count{Name: string(st), N: n})
		}
	}
	d.Moves, d.Failing = sortCounts(d.Moves), sortCounts(d.Failing)
	d.Minimum, d.Below = h.agents.MinimumVersion(), map[string]bool{}
	for _, v := range sum.Versions {
		d.Below[v.Name] = rules.BelowMinimum(v.Name, d.Minimum)
	}
	h.render(w, r, http.StatusOK, "fleet", h.signedPage(r.Context(), s, "Fleet", d))
}

// sortCounts sorts counts most first.
func sortCounts(cs []rules.Count) []rules.Count {
	m := map[string]int{}
	for _, c := range cs {
		m[c.Name] = c.N
	}
	return rules.TopCounts(m)
}

// agentStrip is an agent's strip over the last stripDays days, or since
// it was linked when that is later.
func (h *Handler) agentStrip(ctx context.Context, agentID string) (stripView, error) {
	now := h.now()
	from := now.Add(-stripDays * 24 * time.Hour)
	c, err := h.fleet.Connectivity(ctx, agentID, from, now)
	if err != nil {
		return stripView{}, err
	}
	label := "Agent " + agentID + " over 30 days"
	if len(c.Intervals) > 0 && c.Intervals[0].Start.After(from) {
		from, label = c.Intervals[0].Start, "Agent "+agentID+" since it was linked"
	}
	return strip(c, from, now, label), nil
}

// roundTripChart is an agent's round trips over the last day.
func (h *Handler) roundTripChart(ctx context.Context, agentID string) (lineView, error) {
	now := h.now()
	from := now.Add(-fleet.Day)
	_, samples, err := h.fleet.RoundTrips(ctx, agentID, from, now)
	if err != nil {
		return lineView{}, err
	}
	pts := make([]point, len(samples))
	for i, s := range samples {
		pts[i] = point{At: s.At, Value: float64(s.Millis)}
	}
	return lineChart(pts, from, now, "Round trip", "ms"), nil
}
