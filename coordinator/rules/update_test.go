package rules

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestReportUpdate(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	a := store.Agent{ID: "ag", Version: "1.0.0"}
	steps := []struct {
		event, to string
		want      bool
		state     store.UpdateState
	}{
		{protocol.UpdateStarted, "1.1.0", true, store.UpdateUpdating},
		{protocol.UpdateStarted, "1.1.0", false, store.UpdateUpdating}, // sent again
		{protocol.UpdateFailed, "1.1.0", true, store.UpdateFailed},
		{protocol.UpdateStarted, "1.1.0", true, store.UpdateUpdating}, // a new attempt
		{protocol.UpdateSucceeded, "1.1.0", true, store.UpdateUpdated},
		{protocol.UpdateSucceeded, "1.1.0", false, store.UpdateUpdated},
		{protocol.UpdateStarted, "1.2.0", true, store.UpdateUpdating},
	}
	for i, s := range steps {
		got := ReportUpdate(&a, protocol.UpdateStatus{Event: s.event, From: "1.0.0", To: s.to}, t0.Add(time.Duration(i)*time.Minute))
		if got != s.want || a.Update.Status != s.state || a.Update.Version != s.to {
			t.Errorf("step %d (%s %s): %v, update %+v; want %v %s", i, s.event, s.to, got, a.Update, s.want, s.state)
		}
	}
	if !RefuseUpdate(&a, "1.3.0", "downgrade", t0) || a.Update.Status != store.UpdateFailed || a.Update.Reason != "refused: downgrade" {
		t.Errorf("refusal: %+v, want Failed refused: downgrade", a.Update)
	}
	if RefuseUpdate(&a, "1.3.0", "downgrade", t0) {
		t.Error("a refusal taken again changed the agent")
	}
}

func TestUpdateOnConnect(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ask := &store.UpdateAsk{Version: "1.1.0", At: t0}
	for _, c := range []struct {
		what    string
		a       store.Agent
		version string
		want    bool
	}{
		{"none asked", store.Agent{}, "1.0.0", false},
		{"asked, unanswered", store.Agent{UpdateAsk: ask}, "1.0.0", true},
		{"asked, runs it", store.Agent{UpdateAsk: ask}, "1.1.0", false},
		{"asked, runs newer", store.Agent{UpdateAsk: ask}, "1.2.0", false},
		{"asked, a development build", store.Agent{UpdateAsk: ask}, "dev", false},
		{"asked, rolled back since", store.Agent{UpdateAsk: ask, Update: &store.AgentUpdate{Version: "1.1.0", Status: store.UpdateRolledBack, At: t0.Add(time.Minute)}}, "1.0.0", false},
		{"asked again after an old failure", store.Agent{UpdateAsk: ask, Update: &store.AgentUpdate{Version: "1.1.0", Status: store.UpdateFailed, At: t0.Add(-time.Minute)}}, "1.0.0", true},
	} {
		if got := UpdateOnConnect(c.a, c.version) != nil; got != c.want {
			t.Errorf("%s: %v, want %v", c.what, got, c.want)
		}
	}
}

func TestUpdateWebhooks(t *testing.T) {
	u := &store.AgentUpdate{Version: "1.1.0", Status: store.UpdateRolledBack, Reason: "unhealthy"}
	e := store.AgentEvent{ID: "e1", AgentID: "ag", Type: store.EventUpdateRolledBack, Update: u, Connections: []string{"c1", "c2", "c3"}}
	conns := []store.Connection{{ID: "c1", CompanyID: "co1", AgentID: "ag"}, {ID: "c2", CompanyID: "co2", AgentID: "other"}, {ID: "c3", CompanyID: "co3", AgentID: "ag"}}
	got := PresenceEvents(e, conns)
	if len(got) != 2 || got[0].Type != store.EventAgentUpdateRolledBack || got[0].CompanyID != "co1" || got[1].CompanyID != "co3" || got[0].Update != u {
		t.Fatalf("events %+v; want agent.update.rolledBack for co1 and co3 with the report", got)
	}
}
