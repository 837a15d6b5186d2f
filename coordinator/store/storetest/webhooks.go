package storetest

import (
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

var webhookTests = []struct {
	name string
	run  func(*fixture)
}{
	{"Webhooks", testWebhooks},
	{"WebhookEventsFromTransitions", testWebhookEventsFromTransitions},
	{"InitialReadEvent", testInitialReadEvent},
	{"WebhookDeliveries", testWebhookDeliveries},
	{"WebhookDisabled", testWebhookDisabled},
	{"WebhookCompanyTags", testWebhookCompanyTags},
	{"PresenceWebhooks", testPresenceWebhooks},
}

// testPresenceWebhooks: an agent's Connected and Disconnected events put
// the presence webhooks of the connections they name in the outbox, in
// the same write: with stable ids, only for connections bound to the
// agent, none when they name none, and not twice when the event is added
// again.
func testPresenceWebhooks(f *fixture) {
	f.webhook("wh-p", store.EventConnectionConnected, store.EventConnectionDisconnected)
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-other", store.Linked, "agent-2")
	on := store.AgentEvent{ID: "aev-1", AgentID: "agent-1", At: at(5), Type: store.EventConnected,
		Connections: []string{"conn-1", "conn-other", "conn-missing"}}
	noErr(f, "AddAgentEvent(Connected)", f.s.AddAgentEvent(f.ctx, on))
	wantErr(f, "AddAgentEvent again", f.s.AddAgentEvent(f.ctx, on), store.ErrExists)
	ds, err := f.s.DueDeliveries(f.ctx, at(5), 0)
	noErr(f, "DueDeliveries", err)
	if len(ds) != 1 {
		f.Fatalf("deliveries after Connected: %+v, want one, for conn-1", ds)
	}
	e := ds[0].Event
	eq(f, "type", e.Type, store.EventConnectionConnected)
	eq(f, "id", e.ID, store.PresenceEventID("aev-1", "conn-1"))
	eq(f, "connection", e.ConnectionID, "conn-1")
	eq(f, "agent", e.AgentID, "agent-1")
	eq(f, "company", e.CompanyID+" "+e.CompanyName, "co-1 Company co-1")
	eq(f, "generated", e.Generated.Equal(at(5)), true)
	evs, err := f.s.AgentEvents(f.ctx, "agent-1")
	noErr(f, "AgentEvents", err)
	eq(f, "connections kept with the agent event", fmtList(evs[0].Connections), "[conn-1 conn-other conn-missing]")

	// A Disconnected naming none (superseded, shutting down) adds nothing;
	// other event types never add any.
	noErr(f, "AddAgentEvent(superseded)", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: "aev-2", AgentID: "agent-1",
		At: at(6), Type: store.EventDisconnected, Reason: store.ReasonSuperseded}))
	noErr(f, "AddAgentEvent(LeaseExpired)", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: "aev-3", AgentID: "agent-1",
		At: at(6), Type: store.EventLeaseExpired, Connections: []string{"conn-1"}}))
	eq(f, "after events naming no presence change", len(f.dueEvents(10)), 1)
	noErr(f, "AddAgentEvent(Disconnected)", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: "aev-4", AgentID: "agent-1",
		At: at(7), Type: store.EventDisconnected, Reason: store.ReasonClosedByAgent, Connections: []string{"conn-1"}}))
	ds, err = f.s.DueDeliveries(f.ctx, at(10), 0)
	noErr(f, "DueDeliveries", err)
	if len(ds) != 2 || ds[1].Event.Type != store.EventConnectionDisconnected || ds[1].Event.ID != store.PresenceEventID("aev-4", "conn-1") {
		f.Fatalf("deliveries after Disconnected: %+v", ds)
	}
}

func testWebhookCompanyTags(f *fixture) {
	w := store.Webhook{ID: "wh-tagged", URL: "https://example.com/t", EventTypes: []string{store.EventConnectionCreated},
		CompanyTags: []string{"region:uk"}, Secret: "s", Created: at(0)}
	noErr(f, "CreateWebhook", f.s.CreateWebhook(f.ctx, w))
	bad := w
	bad.ID, bad.CompanyTags = "wh-bad", []string{"no-colon"}
	if err := f.s.CreateWebhook(f.ctx, bad); err == nil {
		f.Errorf("a company tag without a colon: got no error")
	}
	uk := store.Company{ID: "co-uk", Name: "UK", Created: at(0), Tags: map[string]string{"region": "uk"}}
	de := store.Company{ID: "co-de", Name: "DE", Created: at(0), Tags: map[string]string{"region": "de"}}
	noErr(f, "CreateCompany", f.s.CreateCompany(f.ctx, uk))
	noErr(f, "CreateCompany", f.s.CreateCompany(f.ctx, de))
	f.connection("co-uk", "conn-uk", store.PendingAuth, "")
	f.connection("co-de", "conn-de", store.PendingAuth, "")
	ds, err := f.s.DueDeliveries(f.ctx, at(10), 0)
	noErr(f, "DueDeliveries", err)
	if len(ds) != 1 || ds[0].Event.CompanyID != "co-uk" {
		f.Errorf("deliveries to a consumer of region:uk: %+v, want only co-uk's", ds)
	}
}

func fmtList[T any](l []T) string { return fmt.Sprint(l) }

func (f *fixture) webhook(id string, types ...string) store.Webhook {
	f.Helper()
	w := store.Webhook{ID: id, URL: "https://example.com/" + id, EventTypes: types, Secret: "secret-" + id, Created: at(0)}
	noErr(f, "CreateWebhook", f.s.CreateWebhook(f.ctx, w))
	return w
}

// dueEvents returns the due deliveries as "webhook:eventType".
func (f *fixture) dueEvents(sec int) []string {
	f.Helper()
	ds, err := f.s.DueDeliveries(f.ctx, at(sec), 0)
	noErr(f, "DueDeliveries", err)
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.WebhookID + ":" + d.Event.Type
	}
	return out
}

func testWebhooks(f *fixture) {
	f.webhook("wh-1", store.EventReadCompleted)
	w, err := f.s.Webhook(f.ctx, "wh-1")
	noErr(f, "Webhook", err)
	eq(f, "secret kept", w.Secret, "secret-wh-1")
	err = f.s.CreateWebhook(f.ctx, store.Webhook{ID: "wh-1", URL: "https://x", Secret: "s"})
	wantErr(f, "CreateWebhook twice", err, store.ErrExists)
	err = f.s.CreateWebhook(f.ctx, store.Webhook{ID: "wh-2", URL: "https://x", Secret: "s", EventTypes: []string{"nope"}})
	if err == nil {
		f.Errorf("unknown event type: got no error")
	}
	all, err := f.s.Webhooks(f.ctx)
	noErr(f, "Webhooks", err)
	eq(f, "consumers", len(all), 1)
	noErr(f, "DeleteWebhook", f.s.DeleteWebhook(f.ctx, "wh-1"))
	wantErr(f, "DeleteWebhook twice", f.s.DeleteWebhook(f.ctx, "wh-1"), store.ErrNotFound)
	_, err = f.s.Webhook(f.ctx, "wh-1")
	wantErr(f, "Webhook deleted", err, store.ErrNotFound)
}

func testWebhookEventsFromTransitions(f *fixture) {
	f.webhook("wh-read", store.EventReadCompleted)
	f.webhook("wh-conn", store.EventConnectionCreated)
	f.linked("co-1", "conn-1", "agent-1")
	eq(f, "after connection created", fmtList(f.dueEvents(0)), "[wh-conn:connection.created]")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 1)
	eq(f, "after queue", len(f.dueEvents(1)), 1)
	f.complete("co-1", "ds-1", "agent-1", 2)
	ds, err := f.s.DueDeliveries(f.ctx, at(10), 0)
	noErr(f, "DueDeliveries", err)
	if len(ds) != 2 {
		f.Fatalf("deliveries: got %d, want 2", len(ds))
	}
	read := ds[1]
	eq(f, "read event", read.WebhookID+":"+read.Event.Type, "wh-read:read.completed")
	eq(f, "read status", read.Event.Status, "Complete")
	eq(f, "read dataset", read.Event.DatasetID, "ds-1")
	eq(f, "event id stable", read.Event.ID, store.EventID(store.EventReadCompleted, "ds-1"))
	// An AuthError by unlinking is an event too.
	f.queue("co-1", "conn-1", "ds-2", dataset.Bills, 20)
	_, err = f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
		c.Status = store.Unlinked
		return nil
	})
	noErr(f, "UpdateConnection", err)
	got := 0
	all, _ := f.s.DueDeliveries(f.ctx, time.Now().Add(time.Hour), 0)
	for _, d := range all {
		if d.Event.DatasetID == "ds-2" && d.Event.Status == "AuthError" {
			got++
		}
	}
	eq(f, "AuthError read.completed events", got, 1)
}

// testInitialReadEvent: the last of a first link's datasets to end adds
// read.completed.initial, naming them all, in its own transaction.
func testInitialReadEvent(f *fixture) {
	f.webhook("wh-init", store.EventReadCompletedInitial)
	f.linked("co-1", "conn-1", "agent-1")
	ids := []string{"ds-1", "ds-2", "ds-3"}
	types := []dataset.DataType{dataset.Invoices, dataset.Bills, dataset.Customers}
	_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{ID: "ds-x", CompanyID: "co-1", ConnectionID: "conn-1",
		DataType: dataset.Suppliers, Now: at(1), FirstLink: ids})
	if err == nil {
		f.Errorf("first link's datasets without the queued one: got no error")
	}
	for i, id := range ids {
		_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{ID: id, CompanyID: "co-1", ConnectionID: "conn-1",
			DataType: types[i], Now: at(1), Message: "first link", FirstLink: ids})
		noErr(f, "QueueDataset "+id, err)
	}
	f.queue("co-1", "conn-1", "ds-4", dataset.Suppliers, 1) // not the first link's
	f.complete("co-1", "ds-1", "agent-1", 2)
	f.fail("co-1", "ds-2", "agent-1", 10)
	f.complete("co-1", "ds-4", "agent-1", 20)
	eq(f, "before the last ends", len(f.dueEvents(100)), 0)
	f.complete("co-1", "ds-3", "agent-1", 30)
	ds, err := f.s.DueDeliveries(f.ctx, at(100), 0)
	noErr(f, "DueDeliveries", err)
	if len(ds) != 1 {
		f.Fatalf("deliveries: got %d, want 1", len(ds))
	}
	e := ds[0].Event
	eq(f, "event", ds[0].WebhookID+":"+e.Type+":"+e.ConnectionID, "wh-init:read.completed.initial:conn-1")
	eq(f, "event id", e.ID, store.EventID(store.EventReadCompletedInitial, "conn-1"))
	eq(f, "reads", fmt.Sprint(e.Reads), "[{ds-1 invoices Complete} {ds-2 bills FetchError} {ds-3 customers Complete}]")
}

func testWebhookDeliveries(f *fixture) {
	f.webhook("wh-1", store.EventConnectionConnected)
	ev1 := f.presence("aev-1", 5)
	e := store.WebhookEvent{ID: ev1, Type: store.EventConnectionConnected}
	eq(f, "due before the event", len(f.dueEvents(4)), 0)
	ds, err := f.s.DueDeliveries(f.ctx, at(5), 0)
	noErr(f, "DueDeliveries", err)
	eq(f, "one delivery of an event added twice", len(ds), 1)
	eq(f, "pending after the event", f.pending(), 1)
	d := ds[0]
	a := store.DeliveryAttempt{WebhookID: "wh-1", EventID: ev1, EventType: e.Type, Attempt: 1, At: at(6), StatusCode: 500}
	disabled, err := f.s.DeliveryFailed(f.ctx, d, a, at(66), time.Hour)
	noErr(f, "DeliveryFailed", err)
	eq(f, "disabled", disabled, false)
	eq(f, "pending while it waits for its retry", f.pending(), 1)
	eq(f, "due before the retry", len(f.dueEvents(65)), 0)
	ds, _ = f.s.DueDeliveries(f.ctx, at(66), 0)
	if len(ds) != 1 {
		f.Fatalf("due at the retry: got %d", len(ds))
	}
	eq(f, "attempts so far", ds[0].Attempt, 1)
	w, _ := f.s.Webhook(f.ctx, "wh-1")
	eqTime(f, "failing since", w.FailingSince, at(6))
	a2 := store.DeliveryAttempt{WebhookID: "wh-1", EventID: ev1, EventType: e.Type, Attempt: 2, At: at(67), StatusCode: 200, Outcome: store.OutcomeDelivered}
	noErr(f, "DeliveryDone", f.s.DeliveryDone(f.ctx, ds[0], a2))
	eq(f, "due after delivery", len(f.dueEvents(1000)), 0)
	eq(f, "pending after delivery", f.pending(), 0)
	w, _ = f.s.Webhook(f.ctx, "wh-1")
	eq(f, "failing after a success", w.FailingSince.IsZero(), true)
	log, err := f.s.DeliveryLog(f.ctx, "wh-1", 0)
	noErr(f, "DeliveryLog", err)
	if len(log) != 2 {
		f.Fatalf("log: got %d entries, want 2", len(log))
	}
	eq(f, "newest first", log[0].Outcome, store.OutcomeDelivered)
	eq(f, "older", log[1].Outcome, store.OutcomeRetrying)
	_, err = f.s.DeliveryLog(f.ctx, "missing", 0)
	wantErr(f, "DeliveryLog of a missing consumer", err, store.ErrNotFound)

	// A month on, a new attempt drops the expired ones from the log.
	later := at(67).Add(store.DeliveryLogRetention + time.Hour)
	ev2 := f.presenceAt("aev-2", later)
	ds, _ = f.s.DueDeliveries(f.ctx, later, 0)
	a3 := store.DeliveryAttempt{WebhookID: "wh-1", EventID: ev2, EventType: e.Type, Attempt: 1, At: later, Outcome: store.OutcomeDelivered}
	noErr(f, "DeliveryDone", f.s.DeliveryDone(f.ctx, ds[0], a3))
	log, _ = f.s.DeliveryLog(f.ctx, "wh-1", 0)
	if len(log) != 1 || log[0].EventID != ev2 {
		f.Errorf("log after the retention: %+v, want only ev-2's attempt", log)
	}
	// Deleting the consumer empties its part of the outbox.
	f.presenceAt("aev-3", later)
	eq(f, "pending before deleting the consumer", f.pending(), 1)
	noErr(f, "DeleteWebhook", f.s.DeleteWebhook(f.ctx, "wh-1"))
	eq(f, "pending after deleting the consumer", f.pending(), 0)
}

// presence records agent-1 coming online for conn-1 of co-1 (created on
// first use) at(sec): a connection.connected event, whose id it returns.
func (f *fixture) presence(agentEventID string, sec int) string {
	f.Helper()
	return f.presenceAt(agentEventID, at(sec))
}

func (f *fixture) presenceAt(agentEventID string, when time.Time) string {
	f.Helper()
	if _, err := f.s.Company(f.ctx, "co-1"); errors.Is(err, store.ErrNotFound) {
		f.linked("co-1", "conn-1", "agent-1")
	}
	noErr(f, "AddAgentEvent", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: agentEventID, AgentID: "agent-1", At: when,
		Type: store.EventConnected, Connections: []string{"conn-1"}}))
	return store.PresenceEventID(agentEventID, "conn-1")
}

// pending is PendingDeliveries.
func (f *fixture) pending() int {
	f.Helper()
	n, err := f.s.PendingDeliveries(f.ctx)
	noErr(f, "PendingDeliveries", err)
	return n
}

func testWebhookDisabled(f *fixture) {
	f.webhook("wh-1", store.EventConnectionConnected)
	ev0 := f.presence("aev-0", 0)
	f.presence("aev-1", 100)
	ds, _ := f.s.DueDeliveries(f.ctx, at(0), 0)
	a := store.DeliveryAttempt{WebhookID: "wh-1", EventID: ev0, Attempt: 1, At: at(0), Error: "refused"}
	disabled, err := f.s.DeliveryFailed(f.ctx, ds[0], a, at(50), time.Minute)
	noErr(f, "DeliveryFailed", err)
	eq(f, "disabled at the first failure", disabled, false)
	ds, _ = f.s.DueDeliveries(f.ctx, at(100), 0)
	eq(f, "due at 100", len(ds), 2)
	a = store.DeliveryAttempt{WebhookID: "wh-1", EventID: ds[0].Event.ID, Attempt: 2, At: at(100), Error: "refused"}
	disabled, err = f.s.DeliveryFailed(f.ctx, ds[0], a, at(200), time.Minute)
	noErr(f, "DeliveryFailed", err)
	eq(f, "disabled after failing a minute", disabled, true)
	eq(f, "pending after disabling: the other waits to be dropped", f.pending(), 1)
	w, _ := f.s.Webhook(f.ctx, "wh-1")
	eq(f, "consumer disabled", w.Disabled, true)
	late := f.presence("aev-late", 300)
	ds, _ = f.s.DueDeliveries(f.ctx, at(1000), 0)
	for _, d := range ds {
		if d.Event.ID == late {
			f.Errorf("a disabled consumer got a new event")
		}
	}
}
