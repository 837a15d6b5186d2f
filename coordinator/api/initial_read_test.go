package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/webhook"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestInitialReadCompleted: a connection linked through the real link
// exchange, synced by a real agent, gets one read.completed.initial when
// the last of its first link's datasets ends, naming each with its status;
// a relink's datasets do not send it again.
func TestInitialReadCompleted(t *testing.T) {
	e := newSupportEnv(t)
	ctx := t.Context()
	if err := e.st.CreateWebhook(ctx, store.Webhook{ID: "wh-init", URL: "https://hooks.example.com/x", Secret: "s",
		EventTypes: []string{store.EventReadCompletedInitial}, Created: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	co := e.company("Acme")
	var created connectionView
	e.must(200, "POST", "/companies/"+co+"/connections", map[string]any{"platformKey": "csv"}, &created)
	code, _ := created.ConnectionInfo["linkCode"].(string)
	r := e.agentLink(code, "")
	e.startAgent(co, created.ID, r.Credential, agentOpts{})

	initial := func() []store.Delivery {
		ds, err := e.st.DueDeliveries(ctx, time.Now().Add(24*time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(ds, func(d store.Delivery) bool { return d.Event.Type != store.EventReadCompletedInitial })
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(initial()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no read.completed.initial after the first link's datasets")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := initial()
	if len(got) != 1 {
		t.Fatalf("%d read.completed.initial deliveries, want 1", len(got))
	}
	var hist []pullOperation
	e.must(200, "GET", "/companies/"+co+"/data/history?pageSize=100", nil, &struct {
		Results *[]pullOperation `json:"results"`
	}{&hist})
	want := map[string]string{}
	for _, d := range hist {
		if !d.Status.Terminal() {
			t.Errorf("%s is %s when read.completed.initial was sent", d.DataType, d.Status)
		}
		want[d.ID] = string(d.DataType) + " " + string(d.Status)
	}
	body, err := webhook.Render(got[0].Event, "http://ferry.test")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		EventType string `json:"eventType"`
		Payload   struct {
			ReferenceCompany struct{ ID string } `json:"referenceCompany"`
			DataTypes        []struct {
				ConnectionID, DataType, Status, DatasetID string
			} `json:"dataTypes"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if env.EventType != store.EventReadCompletedInitial || env.Payload.ReferenceCompany.ID != co || len(env.Payload.DataTypes) != len(want) || len(want) == 0 {
		t.Fatalf("payload %s, want the %d datasets of the first link", body, len(want))
	}
	for _, dt := range env.Payload.DataTypes {
		if dt.ConnectionID != created.ID || want[dt.DatasetID] != dt.DataType+" "+dt.Status {
			t.Errorf("dataTypes entry %+v, want one of %v", dt, want)
		}
	}

	// The agent unlinks and links again: the relink queues the types
	// again, and their end sends no second read.completed.initial.
	if status, out := e.agentPost(protocol.UnlinkPath, r.Credential, protocol.UnlinkRequest{ConnectionID: created.ID}); status != 200 {
		t.Fatalf("unlink: %d %s", status, out)
	}
	_, code = e.issued(co, created.ID)
	e.agentLink(code, r.Credential)
	hist2, err := e.st.Datasets(ctx, co)
	if err != nil {
		t.Fatal(err)
	}
	relinked := 0
	for _, d := range hist2 {
		if _, first := want[d.ID]; !first {
			relinked++
			if d.FirstLink != nil {
				t.Errorf("relink's %s names first-link datasets %v", d.DataType, d.FirstLink)
			}
		}
	}
	if relinked == 0 {
		t.Error("the relink queued nothing")
	}
	if status, out := e.agentPost(protocol.UnlinkPath, r.Credential, protocol.UnlinkRequest{ConnectionID: created.ID}); status != 200 {
		t.Fatalf("second unlink: %d %s", status, out)
	}
	if n := len(initial()); n != 1 {
		t.Errorf("%d read.completed.initial deliveries after the relink's datasets ended, want 1", n)
	}
}

// agentPost posts body to the hub as an agent with credential cred ("" for
// none).
func (e *supportEnv) agentPost(path, cred string, body any) (int, []byte) {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.url+path, bytes.NewReader(raw))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// agentLink exchanges a link code at the hub, as the agent's link command.
func (e *supportEnv) agentLink(code, cred string) protocol.LinkResponse {
	e.t.Helper()
	status, out := e.agentPost(protocol.LinkPath, cred, protocol.LinkRequest{Code: code, PlatformKey: "csv", Hostname: "pc-1", OS: "linux"})
	if status != 200 {
		e.t.Fatalf("link: %d %s", status, out)
	}
	var r protocol.LinkResponse
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatal(fmt.Errorf("link response %s: %w", out, err))
	}
	return r
}
