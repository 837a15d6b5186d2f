package rules

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// kinds are c's errors as kind:status, in order.
func kinds(c store.Connection) []string {
	var out []string
	for _, e := range c.Errors {
		out = append(out, e.StatusText+":"+string(e.Status))
	}
	return out
}

func eventTypes(evs []store.WebhookEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// TestAgentOffline walks an agent through the threshold with an injected
// clock: not due before it, raised once at it (on its Linked connections
// only), not raised again while active, resolved when it is back.
func TestAgentOffline(t *testing.T) {
	after := 15 * time.Minute
	a := store.Agent{ID: "agent-1", Created: at(0), LastSeen: at(60)} // at(n): n seconds in
	conns := []store.Connection{
		{ID: "conn-1", CompanyID: "co-1", Status: store.Linked, AgentID: "agent-1"},
		{ID: "conn-2", CompanyID: "co-1", Status: store.Deauthorized, AgentID: "agent-1"},
	}
	step := func(name string, online bool, now time.Time, wantAgent bool, wantConns []int, want1 []string) {
		t.Helper()
		old := slices.Clone(conns)
		gotAgent, gotConns := AgentOffline(&a, online, conns, now, after)
		if gotAgent != wantAgent || !slices.Equal(gotConns, wantConns) || !slices.Equal(kinds(conns[0]), want1) {
			t.Errorf("%s: got agent changed %v, conns %v, errors %v; want %v, %v, %v",
				name, gotAgent, gotConns, kinds(conns[0]), wantAgent, wantConns, want1)
		}
		if len(conns[1].Errors) != 0 {
			t.Errorf("%s: a Deauthorized connection got %v", name, kinds(conns[1]))
		}
		if len(gotConns) > 0 && slices.Equal(kinds(old[0]), kinds(conns[0])) {
			t.Errorf("%s: the connection before the change was changed too", name)
		}
	}
	step("blip", false, at(60).Add(after-time.Second), false, nil, nil)
	step("threshold", false, at(60).Add(after), true, []int{0}, []string{"AgentOffline:Active"})
	if !a.Offline.Equal(at(60).Add(after)) {
		t.Errorf("agent's Offline %v, want the time it was reported", a.Offline)
	}
	step("still offline", false, at(60).Add(2*after), false, nil, []string{"AgentOffline:Active"})
	step("back", true, at(60).Add(3*after), true, []int{0}, []string{"AgentOffline:Resolved"})
	if !a.Offline.IsZero() {
		t.Errorf("agent's Offline %v after it came back, want zero", a.Offline)
	}
	step("online", true, at(60).Add(4*after), false, nil, []string{"AgentOffline:Resolved"})
	step("offline again", false, at(60).Add(5*after), true, []int{0}, []string{"AgentOffline:Resolved", "AgentOffline:Active"})

	revoked := store.Agent{ID: "agent-2", Created: at(0), Revoked: at(1)}
	if OfflineDue(revoked, false, at(0).Add(24*time.Hour), after) {
		t.Error("a revoked agent is due to be reported offline")
	}
	never := store.Agent{ID: "agent-3", Created: at(0)}
	if !OfflineDue(never, false, at(0).Add(after), after) || OfflineDue(never, false, at(0).Add(after-1), after) {
		t.Error("an agent never seen counts from its creation")
	}
}

// TestBookErrors: a fetch failing with a book kind raises it once, another
// kind replaces it, a fetch that reads the book resolves it, and a
// FetchError without a kind changes nothing.
func TestBookErrors(t *testing.T) {
	c := store.Connection{ID: "conn-1", CompanyID: "co-1", Status: store.Linked}
	fetch := func(n int, to dataset.Status, code string) bool {
		old := store.Dataset{ID: "ds", Status: dataset.Fetching}
		d := old
		d.Status, d.ErrorCode, d.ErrorMessage = to, code, "why"
		d.Timeline = []store.Transition{{At: at(n), To: to}}
		return BookErrors(&c, &old, &d)
	}
	tests := []struct {
		name    string
		to      dataset.Status
		code    string
		changed bool
		want    []string
	}{
		{"missing", dataset.FetchError, store.ConnErrBookMissing, true, []string{"BookMissing:Active"}},
		{"missing again", dataset.FetchError, store.ConnErrBookMissing, false, []string{"BookMissing:Active"}},
		{"no kind", dataset.FetchError, "", false, []string{"BookMissing:Active"}},
		{"unknown kind", dataset.FetchError, "Gremlins", false, []string{"BookMissing:Active"}},
		{"locked", dataset.FetchError, store.ConnErrBookLocked, true, []string{"BookMissing:Resolved", "BookLocked:Active"}},
		{"read", dataset.Mapping, "", true, []string{"BookMissing:Resolved", "BookLocked:Resolved"}},
		{"read again", dataset.Mapping, "", false, []string{"BookMissing:Resolved", "BookLocked:Resolved"}},
	}
	for i, tt := range tests {
		if got := fetch(i+1, tt.to, tt.code); got != tt.changed || !slices.Equal(kinds(c), tt.want) {
			t.Errorf("%s: got changed %v, %v; want %v, %v", tt.name, got, kinds(c), tt.changed, tt.want)
		}
	}
	if e := c.Errors[1]; e.StatusCode != "423" || !e.ErroredOn.Equal(at(5)) || !e.ResolvedOn.Equal(at(6)) || e.ErrorMessage != "why" {
		t.Errorf("locked error: %+v", e)
	}
}

// TestErrorEvents: the events of the errors' changes, with stable ids.
func TestErrorEvents(t *testing.T) {
	old := store.Connection{ID: "conn-1", CompanyID: "co-1", Status: store.Linked, AgentID: "agent-1"}
	c := old
	RaiseError(&c, store.ConnErrAgentOffline, "gone", at(10))
	RaiseError(&c, store.ConnErrBookMissing, "no book", at(10))
	evs := ConnectionEvents(&old, c, at(11))
	want := []string{store.EventConnectionErrorRaised, store.EventAgentOffline, store.EventConnectionErrorRaised}
	if !slices.Equal(eventTypes(evs), want) {
		t.Fatalf("raised: got %v, want %v", eventTypes(evs), want)
	}
	if e := evs[1]; e.Error == nil || e.Error.StatusText != store.ConnErrAgentOffline || !e.Generated.Equal(at(10)) || e.AgentID != "agent-1" {
		t.Errorf("agent.offline: %+v", e)
	}
	if again := ConnectionEvents(&old, c, at(12)); again[0].ID != evs[0].ID {
		t.Error("the same change made another event id")
	}
	if RaiseError(&c, store.ConnErrAgentOffline, "gone", at(20)) {
		t.Error("an Active kind was raised again")
	}
	before := c
	ResolveErrors(&c, at(30), store.ConnErrAgentOffline)
	evs = ConnectionEvents(&before, c, at(31))
	want = []string{store.EventConnectionErrorResolved, store.EventAgentOnline}
	if !slices.Equal(eventTypes(evs), want) || !evs[0].Generated.Equal(at(30)) {
		t.Fatalf("resolved: got %+v, want %v", evs, want)
	}
	if kinds(before)[0] != "AgentOffline:Active" {
		t.Error("resolving changed the connection before the change")
	}
}

// TestConnectionStatusErrors: a revoked credential (Deauthorized, agent
// kept) raises CredentialRevoked and resolves AgentOffline; linking again
// resolves the agent's errors and fires connection.reconnected.
func TestConnectionStatusErrors(t *testing.T) {
	linked := store.Connection{ID: "conn-1", CompanyID: "co-1", Status: store.Linked, AgentID: "agent-1"}
	RaiseError(&linked, store.ConnErrAgentOffline, "gone", at(1))
	RaiseError(&linked, store.ConnErrBookMissing, "no book", at(1))
	deauth := linked
	deauth.Status = store.Deauthorized
	if _, err := ChangeConnection(linked, &deauth, at(5)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"AgentOffline:Resolved", "BookMissing:Active", "CredentialRevoked:Active"}; !slices.Equal(kinds(deauth), want) {
		t.Errorf("revoked: got %v, want %v", kinds(deauth), want)
	}
	unlinkedByAgent := linked
	unlinkedByAgent.Status, unlinkedByAgent.AgentID = store.Deauthorized, ""
	if _, err := ChangeConnection(linked, &unlinkedByAgent, at(5)); err != nil {
		t.Fatal(err)
	}
	if _, ok := ActiveError(unlinkedByAgent, store.ConnErrCredentialRevoked); ok {
		t.Error("the agent unlinking the connection raised CredentialRevoked")
	}
	deauth.LinkCodeExpires = at(50)
	relinked := deauth
	Redeem(&relinked, "agent-2", at(9))
	if want := []string{"AgentOffline:Resolved", "BookMissing:Active", "CredentialRevoked:Resolved"}; !slices.Equal(kinds(relinked), want) {
		t.Errorf("relinked: got %v, want %v", kinds(relinked), want)
	}
	evs := ConnectionEvents(&deauth, relinked, at(9))
	if want := []string{store.EventConnectionReconnected, store.EventConnectionErrorResolved}; !slices.Equal(eventTypes(evs), want) {
		t.Errorf("relinked: events %v, want %v", eventTypes(evs), want)
	}
	if d := DeletedEvents(relinked, at(10)); len(d) != 1 || d[0].Type != store.EventConnectionDeleted || d[0].ID != store.EventID(store.EventConnectionDeleted, "conn-1") {
		t.Errorf("deleted: %+v", d)
	}
}

// TestResolvedErrorsTrimmed: a connection keeps its newest
// MaxResolvedErrors Resolved errors and every Active one.
func TestResolvedErrorsTrimmed(t *testing.T) {
	var c store.Connection
	RaiseError(&c, store.ConnErrBookMissing, "no book", at(0))
	for i := range store.MaxResolvedErrors + 5 {
		RaiseError(&c, store.ConnErrAgentOffline, "gone", at(10*i+1))
		ResolveErrors(&c, at(10*i+2), store.ConnErrAgentOffline)
	}
	if len(c.Errors) != store.MaxResolvedErrors+1 || c.Errors[0].StatusText != store.ConnErrBookMissing {
		t.Fatalf("got %d errors (%v), want the Active one and %d Resolved", len(c.Errors), kinds(c), store.MaxResolvedErrors)
	}
	if last := c.Errors[len(c.Errors)-1]; !last.ErroredOn.Equal(at(10*(store.MaxResolvedErrors+4) + 1)) {
		t.Errorf("newest kept raised at %v", last.ErroredOn)
	}
}

// TestAgentEventErrors: a refused protocol version raises AgentOutdated on
// the agent's Linked connections, once; its next Connected resolves it
// and ends an offline report in the same step.
func TestAgentEventErrors(t *testing.T) {
	a := store.Agent{ID: "agent-1", Created: at(0), Offline: at(900)}
	conns := []store.Connection{
		{ID: "conn-1", CompanyID: "co-1", Status: store.Linked, AgentID: "agent-1"},
		{ID: "conn-2", CompanyID: "co-1", Status: store.Deauthorized, AgentID: "agent-1"},
	}
	RaiseError(&conns[0], store.ConnErrAgentOffline, "gone", at(900))
	refused := store.AgentEvent{ID: "aev-1", AgentID: "agent-1", At: at(1000), Type: store.EventVersionRefused, Detail: "it speaks protocol versions [0]"}
	if ac, changed := AgentEventErrors(&a, refused, conns); ac || !slices.Equal(changed, []int{0}) {
		t.Errorf("refused: got %v, %v; want the Linked connection changed", ac, changed)
	}
	if e, ok := ActiveError(conns[0], store.ConnErrAgentOutdated); !ok || e.StatusCode != "426" || !strings.Contains(e.ErrorMessage, "[0]") {
		t.Errorf("AgentOutdated: %+v, %v", e, ok)
	}
	if _, changed := AgentEventErrors(&a, refused, conns); len(changed) != 0 {
		t.Errorf("refused again changed %v", changed)
	}
	connected := store.AgentEvent{ID: "aev-2", AgentID: "agent-1", At: at(1100), Type: store.EventConnected}
	ac, changed := AgentEventErrors(&a, connected, conns)
	if !ac || !slices.Equal(changed, []int{0}) || !a.Offline.IsZero() {
		t.Errorf("connected: got %v, %v, offline %v", ac, changed, a.Offline)
	}
	if want := []string{"AgentOffline:Resolved", "AgentOutdated:Resolved"}; !slices.Equal(kinds(conns[0]), want) {
		t.Errorf("after Connected: %v, want %v", kinds(conns[0]), want)
	}
}

// TestLinkFailed: an expired code tried on a connection waiting for its
// link raises LinkCodeExpired with connection.failed, once while it is
// Active, never on a Linked connection; the link resolves it, and so does
// the client's unlink.
func TestLinkFailed(t *testing.T) {
	pending := store.Connection{ID: "conn-1", CompanyID: "co-1", Status: store.PendingAuth}
	c := pending
	if !LinkFailed(&c, at(5), at(10)) {
		t.Fatal("an expired code changed nothing")
	}
	e, ok := ActiveError(c, store.ConnErrLinkCodeExpired)
	if !ok || e.StatusCode != "410" || !strings.Contains(e.ErrorMessage, at(5).UTC().Format(time.RFC3339)) {
		t.Errorf("raised %+v, want LinkCodeExpired, 410, naming the expiry", c.Errors)
	}
	evs := ConnectionEvents(&pending, c, at(10))
	if want := []string{store.EventConnectionErrorRaised, store.EventConnectionFailed}; !slices.Equal(eventTypes(evs), want) {
		t.Fatalf("events %v, want %v", eventTypes(evs), want)
	}
	if f := evs[1]; f.Error == nil || f.Error.StatusText != store.ConnErrLinkCodeExpired || !f.Generated.Equal(at(10)) || f.ConnectionID != "conn-1" {
		t.Errorf("connection.failed: %+v", f)
	}
	if LinkFailed(&c, at(15), at(20)) {
		t.Error("a second failure while Active raised again")
	}
	linked := store.Connection{ID: "conn-2", CompanyID: "co-1", Status: store.Linked, AgentID: "agent-1"}
	if LinkFailed(&linked, at(5), at(10)) || len(linked.Errors) != 0 {
		t.Errorf("a Linked connection failed to link: %+v", linked.Errors)
	}
	for _, tt := range []struct {
		name string
		to   func(*store.Connection)
	}{
		{"linked", func(c *store.Connection) { Redeem(c, "agent-1", at(30)) }},
		{"unlinked", func(c *store.Connection) {
			old := *c
			c.Status = store.Unlinked
			if _, err := ChangeConnection(old, c, at(30)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		next := c
		tt.to(&next)
		if want := []string{"LinkCodeExpired:Resolved"}; !slices.Equal(kinds(next), want) {
			t.Errorf("%s: errors %v, want %v", tt.name, kinds(next), want)
		}
		if evs := ConnectionEvents(&c, next, at(30)); !slices.Contains(eventTypes(evs), store.EventConnectionErrorResolved) || slices.Contains(eventTypes(evs), store.EventConnectionFailed) {
			t.Errorf("%s: events %v, want connection.error.resolved", tt.name, eventTypes(evs))
		}
	}
}
