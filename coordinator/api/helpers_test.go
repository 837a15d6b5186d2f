package api

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func urlq(s string) string { return url.QueryEscape(s) }

func mustID(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
		t.Fatalf("no id in %s (%v)", body, err)
	}
	return v.ID
}

// noAgents is the hub of the tests that run no agents: it knows of none.
type noAgents struct{}

func (noAgents) AgentState(context.Context, string) (hub.AgentState, error) {
	return hub.AgentState{}, store.ErrNotFound
}

func (noAgents) AgentStates(context.Context) ([]hub.AgentState, error) { return nil, nil }

func (noAgents) Diagnose(context.Context, string) (hub.DiagnosticsReport, error) {
	return hub.DiagnosticsReport{}, hub.ErrOffline
}

func (noAgents) RevokeAgent(context.Context, string, string) error { return store.ErrNotFound }

func (noAgents) RequestBundle(context.Context, string) (store.SupportBundle, error) {
	return store.SupportBundle{}, store.ErrNotFound
}

func (noAgents) SetLogLevel(context.Context, string, string, time.Duration) (store.Agent, error) {
	return store.Agent{}, hub.ErrOffline
}

func (noAgents) SetUpdatePolicy(context.Context, string, string) (store.Agent, error) {
	return store.Agent{}, store.ErrNotFound
}
