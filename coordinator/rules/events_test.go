package rules

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestDatasetEvents(t *testing.T) {
	ended := func(s dataset.Status) *store.Dataset {
		d := free(s)
		d.Completed, d.ErrorMessage = at(30), "why"
		return &d
	}
	queued := free(dataset.Queued)
	tests := []struct {
		name     string
		old, new *store.Dataset
		fires    bool
	}{
		{"queued", nil, &queued, false},
		{"queued on a deauthorized connection", nil, ended(dataset.AuthError), true},
		{"claimed", &queued, ptr(held(dataset.Fetching)), false},
		{"mapped", ptr(held(dataset.Fetching)), ptr(free(dataset.Mapping)), false},
		{"completed", ptr(free(dataset.Processing)), ended(dataset.Complete), true},
		{"fetch failed", ptr(held(dataset.Fetching)), ended(dataset.FetchError), true},
		{"not supported", ptr(held(dataset.Fetching)), ended(dataset.NotSupported), true},
		{"written again once ended", ended(dataset.Complete), ended(dataset.Complete), false},
	}
	for _, tt := range tests {
		evs := DatasetEvents(tt.old, tt.new)
		if (len(evs) == 1) != tt.fires || len(evs) > 1 {
			t.Errorf("%s: got %d events, want fired %v", tt.name, len(evs), tt.fires)
			continue
		}
		if !tt.fires {
			continue
		}
		e := evs[0]
		want := store.WebhookEvent{
			ID: store.EventID(store.EventReadCompleted, "ds-1"), Type: store.EventReadCompleted, Generated: at(30),
			CompanyID: "co-1", ConnectionID: "conn-1", DatasetID: "ds-1", DataType: string(tt.new.DataType),
			Status: string(tt.new.Status), Message: "why",
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, e, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestConnectionEvents(t *testing.T) {
	c := store.Connection{ID: "conn-1", CompanyID: "co-1", Status: store.PendingAuth, Created: at(1)}
	evs := ConnectionEvents(nil, c, at(2))
	if len(evs) != 1 || evs[0].Type != store.EventConnectionCreated || evs[0].ID != store.EventID(store.EventConnectionCreated, "conn-1") || !evs[0].Generated.Equal(at(1)) {
		t.Errorf("new connection: got %+v, want one connection.created", evs)
	}
	linked := c
	linked.Status = store.Linked
	if evs := ConnectionEvents(&c, linked, at(2)); len(evs) != 0 {
		t.Errorf("changed connection: got %+v, want none", evs)
	}
}

func TestPresenceEvents(t *testing.T) {
	conns := []store.Connection{
		{ID: "conn-1", CompanyID: "co-1", AgentID: "agent-1"},
		{ID: "conn-2", CompanyID: "co-2", AgentID: "agent-2"}, // bound to another agent since
		{ID: "conn-3", CompanyID: "co-1", AgentID: "agent-1"}, // not named by the event
	}
	e := store.AgentEvent{ID: "aev-1", AgentID: "agent-1", At: at(3), Connections: []string{"conn-1", "conn-2"}}
	tests := []struct {
		typ  store.AgentEventType
		want string
	}{
		{store.EventConnected, store.EventConnectionConnected},
		{store.EventDisconnected, store.EventConnectionDisconnected},
		{store.EventCredentialRefused, ""},
	}
	for _, tt := range tests {
		e.Type = tt.typ
		evs := PresenceEvents(e, conns)
		if tt.want == "" {
			if len(evs) != 0 {
				t.Errorf("%s: got %+v, want none", tt.typ, evs)
			}
			continue
		}
		want := store.WebhookEvent{
			ID: store.PresenceEventID("aev-1", "conn-1"), Type: tt.want, Generated: at(3),
			CompanyID: "co-1", ConnectionID: "conn-1", AgentID: "agent-1",
		}
		if len(evs) != 1 || !reflect.DeepEqual(evs[0], want) {
			t.Errorf("%s: got %+v, want [%+v]", tt.typ, evs, want)
		}
	}
}

func TestDeliveries(t *testing.T) {
	hook := func(id string, edit func(*store.Webhook)) store.Webhook {
		w := store.Webhook{ID: id, EventTypes: []string{store.EventReadCompleted}}
		if edit != nil {
			edit(&w)
		}
		return w
	}
	hooks := []store.Webhook{
		hook("all", nil),
		hook("disabled", func(w *store.Webhook) { w.Disabled = true }),
		hook("unsubscribed", func(w *store.Webhook) { w.EventTypes = []string{store.EventConnectionCreated} }),
		hook("eu", func(w *store.Webhook) { w.CompanyTags = []string{"region:eu"} }),
		hook("us-or-gold", func(w *store.Webhook) { w.CompanyTags = []string{"region:us", "tier:gold"} }),
	}
	paris := time.FixedZone("Paris", 3600)
	e := store.WebhookEvent{ID: "ev-1", Type: store.EventReadCompleted, Generated: at(7).In(paris), CompanyID: "co-1", ConnectionID: "conn-1"}
	conn := store.Connection{ID: "conn-1", PlatformKey: "gnucash", Status: store.Linked}
	tests := []struct {
		name string
		tags map[string]string
		want string
	}{
		{"no tags", nil, "[all]"},
		{"eu", map[string]string{"region": "eu"}, "[all eu]"},
		{"gold", map[string]string{"region": "apac", "tier": "gold"}, "[all us-or-gold]"},
		{"tag key without the value", map[string]string{"region": "us-east"}, "[all]"},
	}
	for _, tt := range tests {
		co := store.Company{ID: "co-1", Name: "Acme", Tags: tt.tags}
		ds := Deliveries(e, co, conn, hooks)
		var got []string
		for _, d := range ds {
			got = append(got, d.WebhookID)
			if d.Event.CompanyName != "Acme" || d.Event.PlatformKey != "gnucash" || d.Event.ConnectionStatus != store.Linked {
				t.Errorf("%s: event not named: %+v", tt.name, d.Event)
			}
			if d.Due != at(7) || d.Due.Location() != time.UTC || d.Event.Generated.Location() != time.UTC || d.Attempt != 0 {
				t.Errorf("%s: due %v, generated %v, attempt %d; want at once, in UTC", tt.name, d.Due, d.Event.Generated, d.Attempt)
			}
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("%s: got %v, want %s", tt.name, got, tt.want)
		}
	}
	ds := Deliveries(e, store.Company{}, store.Connection{}, hooks[:1])
	if len(ds) != 1 || ds[0].Event.CompanyName != "" || ds[0].Event.PlatformKey != "" {
		t.Errorf("missing company and connection: got %+v, want the event by ids only", ds)
	}
}

func TestWebhookOutcomes(t *testing.T) {
	const disableAfter = time.Hour
	a := store.DeliveryAttempt{WebhookID: "wh-1", At: at(0), Attempt: 1}
	var w store.Webhook
	if changed, disabled := Failed(&w, &a, at(30), disableAfter); !changed || disabled || !w.FailingSince.Equal(at(0)) || a.Outcome != store.OutcomeRetrying || !a.NextAttempt.Equal(at(30)) {
		t.Errorf("first failure: got changed %v disabled %v, %+v, %+v", changed, disabled, w, a)
	}
	a.At = at(60)
	if changed, disabled := Failed(&w, &a, at(90), disableAfter); changed || disabled || !w.FailingSince.Equal(at(0)) {
		t.Errorf("failing still: got changed %v disabled %v, failing since %v", changed, disabled, w.FailingSince)
	}
	a.At = at(3600)
	if changed, disabled := Failed(&w, &a, at(4000), disableAfter); !changed || !disabled || !w.Disabled || w.DisabledReason == "" || a.Outcome != store.OutcomeDropped {
		t.Errorf("failing for disableAfter: got changed %v disabled %v, %+v, outcome %s", changed, disabled, w, a.Outcome)
	}
	a.At = at(3700)
	if _, disabled := Failed(&w, &a, at(4000), disableAfter); disabled || a.Outcome != store.OutcomeDropped {
		t.Errorf("disabled already: got disabled %v, outcome %s; want false, Dropped", disabled, a.Outcome)
	}

	w = store.Webhook{FailingSince: at(0)}
	if Delivered(&w, store.DeliveryAttempt{Outcome: store.OutcomeDropped}) || w.FailingSince.IsZero() {
		t.Error("dropped: the consumer is still failing")
	}
	if !Delivered(&w, store.DeliveryAttempt{Outcome: store.OutcomeDelivered}) || !w.FailingSince.IsZero() {
		t.Error("delivered: the consumer is no longer failing")
	}
	if Delivered(&w, store.DeliveryAttempt{Outcome: store.OutcomeDelivered}) {
		t.Error("delivered to a healthy consumer: got a change")
	}
}

func TestCheckWebhook(t *testing.T) {
	ok := store.Webhook{ID: "wh-1", URL: "https://example.com/h", Secret: "s", EventTypes: store.EventTypes, CompanyTags: []string{"region:eu"}}
	tests := []struct {
		name string
		edit func(*store.Webhook)
		ok   bool
	}{
		{"well formed", func(*store.Webhook) {}, true},
		{"bad id", func(w *store.Webhook) { w.ID = "" }, false},
		{"no url", func(w *store.Webhook) { w.URL = "" }, false},
		{"no secret", func(w *store.Webhook) { w.Secret = "" }, false},
		{"unknown type", func(w *store.Webhook) { w.EventTypes = []string{"read.started"} }, false},
		{"tag without a key", func(w *store.Webhook) { w.CompanyTags = []string{":eu"} }, false},
		{"tag without a colon", func(w *store.Webhook) { w.CompanyTags = []string{"eu"} }, false},
		{"eleven tags", func(w *store.Webhook) { w.CompanyTags = make([]string, 11) }, false},
	}
	for _, tt := range tests {
		w := ok
		tt.edit(&w)
		if err := CheckWebhook(w); (err == nil) != tt.ok {
			t.Errorf("%s: got %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestChangeConnection(t *testing.T) {
	conn := func(s store.ConnectionStatus) store.Connection {
		return store.Connection{ID: "conn-1", CompanyID: "co-1", Status: s, AgentID: "agent-1", LinkCodeExpires: at(100)}
	}
	tests := []struct {
		from, to store.ConnectionStatus
		want     ConnectionChange
	}{
		{store.Linked, store.Unlinked, ConnectionChange{EndWork: true, DropCodes: true}},
		{store.Linked, store.Deauthorized, ConnectionChange{EndWork: true, DropCodes: true}},
		{store.PendingAuth, store.Unlinked, ConnectionChange{EndWork: true, DropCodes: true}},
		{store.Unlinked, store.Unlinked, ConnectionChange{DropCodes: true}},
		{store.Deauthorized, store.Unlinked, ConnectionChange{DropCodes: true}},
		{store.Deauthorized, store.Deauthorized, ConnectionChange{}},
		{store.PendingAuth, store.Linked, ConnectionChange{}},
		{store.Linked, store.Linked, ConnectionChange{}},
	}
	for _, tt := range tests {
		c := conn(tt.to)
		got, err := ChangeConnection(conn(tt.from), &c, at(50))
		if err != nil || got != tt.want {
			t.Errorf("%s to %s: got %+v, %v; want %+v", tt.from, tt.to, got, err, tt.want)
		}
		if tt.want.DropCodes != c.LinkCodeExpires.IsZero() {
			t.Errorf("%s to %s: link code expiry %v, want cleared only when the codes go", tt.from, tt.to, c.LinkCodeExpires)
		}
	}
	c := conn(store.Linked)
	c.ID = "conn-2"
	if _, err := ChangeConnection(conn(store.Linked), &c, at(50)); err == nil {
		t.Error("id changed: got no error")
	}
	c = conn(store.Linked)
	c.Status = "Paused"
	if _, err := ChangeConnection(conn(store.Linked), &c, at(50)); err == nil {
		t.Error("unknown status: got no error")
	}
	for _, tt := range []struct {
		s    store.ConnectionStatus
		from []store.ConnectionStatus
		err  error
	}{
		{store.Linked, []store.ConnectionStatus{store.Linked}, store.ErrLinked},
		{store.Unlinked, []store.ConnectionStatus{store.PendingAuth}, store.ErrCodeRefused},
		{store.Unlinked, []store.ConnectionStatus{store.PendingAuth, store.Unlinked}, nil},
	} {
		if err := CanReplaceCode(conn(tt.s), tt.from); !errors.Is(err, tt.err) {
			t.Errorf("replace code of %s from %v: got %v, want %v", tt.s, tt.from, err, tt.err)
		}
	}
}

func TestInitialReadEvents(t *testing.T) {
	ids := []string{"ds-1", "ds-2", "ds-3"}
	ds := func(id string, s dataset.Status) store.Dataset {
		d := free(s)
		d.ID, d.DataType, d.FirstLink = id, dataset.DataType(dataset.DataTypes[len(id)%3]), ids
		if s.Terminal() {
			d.Completed = at(30)
		}
		return d
	}
	done := []store.Dataset{ds("ds-2", dataset.Complete), ds("ds-3", dataset.NotSupported)}
	last := ds("ds-1", dataset.FetchError)
	tests := []struct {
		name      string
		old, new  store.Dataset
		firstLink []store.Dataset
		fires     bool
	}{
		{"the last ends", ds("ds-1", dataset.Fetching), last, done, true},
		{"queued ended (deauthorized), the others already ended", store.Dataset{}, last, done, true},
		{"its own stale entry is ignored", ds("ds-1", dataset.Fetching), last, append([]store.Dataset{ds("ds-1", dataset.Fetching)}, done...), true},
		{"one still running", ds("ds-1", dataset.Fetching), last, []store.Dataset{done[0], ds("ds-3", dataset.Queued)}, false},
		{"one not queued yet", ds("ds-1", dataset.Fetching), last, done[:1], false},
		{"written again once ended", last, last, done, false},
		{"not ended", ds("ds-1", dataset.Queued), ds("ds-1", dataset.Fetching), done, false},
		{"not a first link's", ds("ds-1", dataset.Fetching), func() store.Dataset { d := last; d.FirstLink = nil; return d }(), done, false},
	}
	for _, tt := range tests {
		old := &tt.old
		if tt.old.ID == "" {
			old = nil
		}
		evs := InitialReadEvents(old, &tt.new, tt.firstLink)
		if (len(evs) == 1) != tt.fires || len(evs) > 1 {
			t.Errorf("%s: got %d events, want fired %v", tt.name, len(evs), tt.fires)
			continue
		}
		if !tt.fires {
			continue
		}
		want := store.WebhookEvent{
			ID: store.EventID(store.EventReadCompletedInitial, "conn-1"), Type: store.EventReadCompletedInitial,
			Generated: at(30), CompanyID: "co-1", ConnectionID: "conn-1",
			Reads: []store.DatasetRead{
				{DatasetID: "ds-1", DataType: string(last.DataType), Status: string(dataset.FetchError)},
				{DatasetID: "ds-2", DataType: string(done[0].DataType), Status: string(dataset.Complete)},
				{DatasetID: "ds-3", DataType: string(done[1].DataType), Status: string(dataset.NotSupported)},
			},
		}
		if !reflect.DeepEqual(evs[0], want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, evs[0], want)
		}
	}
}

func TestRedeemCountsLinks(t *testing.T) {
	c := store.Connection{ID: "conn-1", Status: store.PendingAuth}
	Redeem(&c, "agent-1", at(1))
	if c.Links != 1 {
		t.Errorf("Links %d after the first link, want 1", c.Links)
	}
	c.Status = store.Deauthorized
	Redeem(&c, "agent-2", at(1))
	if c.Links != 2 {
		t.Errorf("Links %d after a relink at the same time, want 2", c.Links)
	}
}
