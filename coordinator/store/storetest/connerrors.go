package storetest

import (
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

var connErrorTests = []struct {
	name string
	run  func(*fixture)
}{
	{"AgentOfflineErrors", testAgentOfflineErrors},
	{"BookErrors", testBookErrors},
	{"ConnectionDeletedWebhook", testConnectionDeletedWebhook},
	{"AgentOutdatedErrors", testAgentOutdatedErrors},
	{"LinkCodeExpiredErrors", testLinkCodeExpiredErrors},
}

// connErrors are the connection's errors as kind:status.
func (f *fixture) connErrors(co, conn string) string {
	f.Helper()
	c, err := f.s.Connection(f.ctx, co, conn)
	noErr(f, "Connection", err)
	var out []string
	for _, e := range c.Errors {
		out = append(out, e.StatusText+":"+string(e.Status))
	}
	return strings.Join(out, " ")
}

// newEvents are the event types put in the outbox since the last call,
// given the ones seen so far.
func (f *fixture) newEvents(seen *int) []string {
	f.Helper()
	all := f.dueEvents(1 << 20)
	out := all[*seen:]
	*seen = len(all)
	slices.Sort(out)
	return out
}

// testAgentOfflineErrors: CheckAgentOffline raises AgentOffline on the
// Linked connections of an agent offline past the threshold, with its
// webhooks, once; a held channel or a Connected event resolves it, in the
// same write as the webhooks; a missing agent changes nothing.
func testAgentOfflineErrors(f *fixture) {
	f.webhook("wh", store.EventAgentOffline, store.EventAgentOnline, store.EventConnectionErrorRaised, store.EventConnectionErrorResolved)
	f.agent("agent-1", 0)
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-pending", store.PendingAuth, "")
	after := 15 * time.Minute
	check := func(what string, sec int, want bool) {
		f.Helper()
		got, err := f.s.CheckAgentOffline(f.ctx, "agent-1", at(sec), after)
		noErr(f, what, err)
		eq(f, what+": changed", got, want)
	}
	seen := 0
	check("before the threshold", 899, false)
	check("at the threshold", 900, true)
	eq(f, "errors when offline", f.connErrors("co-1", "conn-1"), "AgentOffline:Active")
	eq(f, "a PendingAuth connection's errors", f.connErrors("co-1", "conn-pending"), "")
	eq(f, "events when offline", fmtList(f.newEvents(&seen)), "[wh:agent.offline wh:connection.error.raised]")
	a, err := f.s.Agent(f.ctx, "agent-1")
	noErr(f, "Agent", err)
	eqTime(f, "agent reported offline", a.Offline, at(900))
	check("still offline", 2000, false)
	eq(f, "events while still offline", len(f.newEvents(&seen)), 0)

	_, err = f.s.ClaimChannel(f.ctx, "agent-1", "replica-1")
	noErr(f, "ClaimChannel", err)
	check("its channel held", 2100, true)
	eq(f, "errors when back", f.connErrors("co-1", "conn-1"), "AgentOffline:Resolved")
	eq(f, "events when back", fmtList(f.newEvents(&seen)), "[wh:agent.online wh:connection.error.resolved]")
	ch, err := f.s.Channel(f.ctx, "agent-1")
	noErr(f, "Channel", err)
	_, err = f.s.ReleaseChannel(f.ctx, "agent-1", ch.Epoch)
	noErr(f, "ReleaseChannel", err)
	check("offline again", 3000, true)
	noErr(f, "AddAgentEvent(Connected)", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: "aev-1", AgentID: "agent-1", At: at(3100),
		Type: store.EventConnected, Connections: []string{"conn-1"}}))
	eq(f, "errors after Connected", f.connErrors("co-1", "conn-1"), "AgentOffline:Resolved AgentOffline:Resolved")
	eq(f, "events after Connected", fmtList(f.newEvents(&seen)),
		"[wh:agent.offline wh:agent.online wh:connection.error.raised wh:connection.error.resolved]")
	a, err = f.s.Agent(f.ctx, "agent-1")
	noErr(f, "Agent", err)
	eq(f, "agent no longer reported offline", a.Offline.IsZero(), true)

	got, err := f.s.CheckAgentOffline(f.ctx, "agent-missing", at(5000), after)
	eq(f, "missing agent: changed", got, false)
	noErr(f, "missing agent", err)
}

// testBookErrors: a FetchError naming a book kind raises it on the
// connection (kept with the dataset as its ErrorCode), in the report's
// write; the next dataset to reach Mapping resolves it.
func testBookErrors(f *fixture) {
	f.webhook("wh", store.EventConnectionErrorRaised, store.EventConnectionErrorResolved)
	f.linked("co-1", "conn-1", "agent-1")
	seen := 0
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 1)
	f.claim("ds-1", "agent-1", "l1", 2)
	r := agentReport("co-1", "ds-1", "agent-1", "l1", dataset.FetchError, 3)
	r.ErrorCode = store.ConnErrBookMissing
	d := f.report(r)
	eq(f, "dataset's error code", d.ErrorCode, store.ConnErrBookMissing)
	eq(f, "dataset's error code as stored", f.dataset("co-1", "ds-1").ErrorCode, store.ConnErrBookMissing)
	eq(f, "errors after the failed fetch", f.connErrors("co-1", "conn-1"), "BookMissing:Active")
	eq(f, "events after the failed fetch", fmtList(f.newEvents(&seen)), "[wh:connection.error.raised]")

	f.queue("co-1", "conn-1", "ds-2", dataset.Invoices, 4)
	f.claim("ds-2", "agent-1", "l2", 5)
	f.report(agentReport("co-1", "ds-2", "agent-1", "l2", dataset.Mapping, 6))
	eq(f, "errors after the book was read", f.connErrors("co-1", "conn-1"), "BookMissing:Resolved")
	eq(f, "events after the book was read", fmtList(f.newEvents(&seen)), "[wh:connection.error.resolved]")
	c, err := f.s.Connection(f.ctx, "co-1", "conn-1")
	noErr(f, "Connection", err)
	eqTime(f, "erroredOn", c.Errors[0].ErroredOn, at(3))
	eqTime(f, "resolvedOn", c.Errors[0].ResolvedOn, at(6))
}

// testConnectionDeletedWebhook: deleting a connection puts
// connection.deleted in the outbox in the same write.
func testConnectionDeletedWebhook(f *fixture) {
	f.webhook("wh", store.EventConnectionDeleted)
	f.linked("co-1", "conn-1", "agent-1")
	noErr(f, "DeleteConnection", f.s.DeleteConnection(f.ctx, "co-1", "conn-1"))
	ds, err := f.s.DueDeliveries(f.ctx, time.Now().Add(time.Hour), 0)
	noErr(f, "DueDeliveries", err)
	if len(ds) != 1 || ds[0].Event.Type != store.EventConnectionDeleted || ds[0].Event.ConnectionID != "conn-1" ||
		ds[0].Event.ID != store.EventID(store.EventConnectionDeleted, "conn-1") {
		f.Fatalf("deliveries after DeleteConnection: %+v", ds)
	}
}

// testAgentOutdatedErrors: a VersionRefused event raises AgentOutdated on
// the agent's Linked connections in its own write, and its next Connected
// event resolves it.
func testAgentOutdatedErrors(f *fixture) {
	f.webhook("wh", store.EventConnectionErrorRaised, store.EventConnectionErrorResolved)
	f.agent("agent-1", 0)
	f.linked("co-1", "conn-1", "agent-1")
	seen := 0
	noErr(f, "AddAgentEvent(VersionRefused)", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: "aev-1", AgentID: "agent-1", At: at(10),
		Type: store.EventVersionRefused, Detail: "it speaks protocol versions [0]"}))
	eq(f, "errors after the refusal", f.connErrors("co-1", "conn-1"), "AgentOutdated:Active")
	eq(f, "events after the refusal", fmtList(f.newEvents(&seen)), "[wh:connection.error.raised]")
	noErr(f, "AddAgentEvent(VersionRefused) again", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: "aev-2", AgentID: "agent-1", At: at(11),
		Type: store.EventVersionRefused, Detail: "it speaks protocol versions [0]"}))
	eq(f, "events after a second refusal", len(f.newEvents(&seen)), 0)
	noErr(f, "AddAgentEvent(Connected)", f.s.AddAgentEvent(f.ctx, store.AgentEvent{ID: "aev-3", AgentID: "agent-1", At: at(20),
		Type: store.EventConnected, Connections: []string{"conn-1"}}))
	eq(f, "errors after Connected", f.connErrors("co-1", "conn-1"), "AgentOutdated:Resolved")
	eq(f, "events after Connected", fmtList(f.newEvents(&seen)), "[wh:connection.error.resolved]")
}

// testLinkCodeExpiredErrors: redeeming an expired code raises
// LinkCodeExpired on its connection, with connection.failed, in the
// write that deletes the code; the connection stays as it was. A second
// failure while it is Active raises nothing more, a new code changes
// nothing, and the link resolves it.
func testLinkCodeExpiredErrors(f *fixture) {
	f.webhook("wh", store.EventConnectionFailed, store.EventConnectionErrorRaised, store.EventConnectionErrorResolved)
	f.company("co-1", 0)
	f.connection("co-1", "conn-1", store.PendingAuth, "")
	expires := at(7 * 24 * 3600)
	seen := 0
	_, err := f.s.RedeemLinkCode(f.ctx, linkHash("conn-1"), "agent-1", expires.Add(time.Second))
	wantErr(f, "RedeemLinkCode of an expired code", err, store.ErrCodeExpired)
	eq(f, "errors after the expired code", f.connErrors("co-1", "conn-1"), "LinkCodeExpired:Active")
	eq(f, "events after the expired code", fmtList(f.newEvents(&seen)), "[wh:connection.error.raised wh:connection.failed]")
	c, err := f.s.Connection(f.ctx, "co-1", "conn-1")
	noErr(f, "Connection", err)
	eq(f, "status after the expired code", c.Status, store.PendingAuth)
	eq(f, "error's status code", c.Errors[0].StatusCode, "410")
	eqTime(f, "erroredOn", c.Errors[0].ErroredOn, expires.Add(time.Second))
	_, err = f.s.RedeemLinkCode(f.ctx, linkHash("conn-1"), "agent-1", expires.Add(2*time.Second))
	wantErr(f, "RedeemLinkCode of the expired code again", err, store.ErrNotFound)

	code := func(h string, exp time.Time) {
		f.Helper()
		_, err := f.s.ReplaceLinkCode(f.ctx, "co-1", "conn-1", store.LinkCode{Hash: []byte(h), Expires: exp}, store.PendingAuth)
		noErr(f, "ReplaceLinkCode", err)
	}
	code("hash-second", expires.Add(time.Hour))
	_, err = f.s.RedeemLinkCode(f.ctx, []byte("hash-second"), "agent-1", expires.Add(2*time.Hour))
	wantErr(f, "RedeemLinkCode of a second expired code", err, store.ErrCodeExpired)
	eq(f, "errors after a second expired code", f.connErrors("co-1", "conn-1"), "LinkCodeExpired:Active")
	eq(f, "events after a second expired code", len(f.newEvents(&seen)), 0)

	code("hash-third", expires.Add(48*time.Hour))
	_, err = f.s.RedeemLinkCode(f.ctx, []byte("hash-third"), "agent-1", expires.Add(3*time.Hour))
	noErr(f, "RedeemLinkCode in time", err)
	eq(f, "errors after the link", f.connErrors("co-1", "conn-1"), "LinkCodeExpired:Resolved")
	eq(f, "events after the link", fmtList(f.newEvents(&seen)), "[wh:connection.error.resolved]")

	// A Linked connection's stale code (a code left by a backend before
	// this rule) fails to link without an error: the connection is fine.
	f.connection("co-1", "conn-2", store.Linked, "agent-2")
	_, err = f.s.RedeemLinkCode(f.ctx, linkHash("conn-2"), "agent-1", expires.Add(4*time.Hour))
	wantErr(f, "RedeemLinkCode of a Linked connection's expired code", err, store.ErrCodeExpired)
	eq(f, "a Linked connection's errors", f.connErrors("co-1", "conn-2"), "")
	eq(f, "events of a Linked connection's expired code", len(f.newEvents(&seen)), 0)
}
