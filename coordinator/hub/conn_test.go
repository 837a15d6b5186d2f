package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestUnknownCredentialRefused(t *testing.T) {
	e := newEnv(t)
	_, resp, err := e.dial("fra_nope")
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("dial with a bad credential: %v %v, want 401", err, resp)
	}
}

func TestOffersOnConnectAndClaim(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, w := e.connect(cred, all(conn))
	if w.LeaseMillis != 60000 || w.HeartbeatMillis != 15000 || w.Version != 1 {
		t.Errorf("welcome %+v", w)
	}
	offered := map[string]bool{}
	for range dataset.DataTypes {
		m := a.expect(protocol.TypeOffer)
		offered[m.Offer.DatasetID] = true
	}
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	first := queued[0]
	if !offered[first.ID] || first.DataType != dataset.Company {
		t.Fatalf("offers %v do not hold the first queued dataset %s", offered, first.ID)
	}
	got := a.claim(first.ID)
	if got.Type != protocol.TypeClaimed || got.Claimed.LeaseID == "" || got.Claimed.DataType != dataset.Company || got.Claimed.CompanyID != e.co {
		t.Fatalf("claim answered %+v", got)
	}
	if d := e.dataset(first.ID); d.Status != dataset.Fetching || d.LeaseID != got.Claimed.LeaseID {
		t.Errorf("after claim %s lease %s", d.Status, d.LeaseID)
	}
	again := a.claim(first.ID)
	if again.Type != protocol.TypeError || again.Error.Code != protocol.CodeNotQueued {
		t.Errorf("second claim: %+v, want not_queued", again)
	}
}

func TestDispatchOnQueue(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	for range dataset.DataTypes {
		a.expect(protocol.TypeOffer)
	}
	// Finish one type so it can be queued again while the agent is idle.
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed
	if m := a.report(c, dataset.FetchError, c.LeaseID); m.Type != protocol.TypeAck {
		t.Fatalf("report: %+v", m)
	}
	ds, err := e.q.Queue(t.Context(), e.co, queued[0].DataType, conn, "test")
	if err != nil {
		t.Fatal(err)
	}
	for {
		m := a.expect(protocol.TypeOffer)
		if m.Offer.DatasetID == ds.ID {
			break
		}
	}
}

// An agent whose source lacks every queued type but one gets them all
// NotSupported at once, in one store transaction: one change on the feed.
func TestNotSupportedWithoutWaiting(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	sub := e.st.Feed().Subscribe(e.st.Feed().Head())
	e.connect(cred, []protocol.Binding{{ConnectionID: conn, DataTypes: []dataset.DataType{dataset.Customers}}})
	hist, _ := e.st.Datasets(t.Context(), e.co)
	for _, d := range hist {
		want := dataset.NotSupported
		if d.DataType == dataset.Customers {
			want = dataset.Queued
		}
		got := e.waitStatus(d.ID, want)
		if want == dataset.NotSupported && got.ErrorMessage == "" && got.Timeline[len(got.Timeline)-1].Message == "" {
			t.Errorf("%s NotSupported without a reason", d.DataType)
		}
	}
	var commits []int // the NotSupported marks of each change that made any
	for len(commits) == 0 || sum(commits) < len(hist)-1 {
		changes, err := sub.Next(t.Context())
		if err != nil {
			t.Fatalf("feed: %v", err)
		}
		for _, c := range changes {
			n := 0
			for _, d := range c.Datasets {
				if d.To == dataset.NotSupported {
					n++
				}
			}
			if n > 0 {
				commits = append(commits, n)
			}
		}
	}
	if len(commits) != 1 {
		t.Errorf("NotSupported marks committed %v at a time, want all %d in one", commits, len(hist)-1)
	}
}

func sum(ns []int) int {
	total := 0
	for _, n := range ns {
		total += n
	}
	return total
}

func TestReportFencing(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed

	tests := []struct {
		name  string
		to    dataset.Status
		lease string
		c     protocol.Claimed
		want  protocol.Code
	}{
		{"stale lease", dataset.Mapping, "not-the-lease", *c, protocol.CodeStaleLease},
		{"refused transition", dataset.Complete, c.LeaseID, *c, protocol.CodeTransition},
		{"coordinator's transition", dataset.Validating, c.LeaseID, *c, protocol.CodeTransition},
		{"other company", dataset.Mapping, c.LeaseID, protocol.Claimed{Offer: protocol.Offer{CompanyID: "co-other", DatasetID: c.DatasetID}}, protocol.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := a.report(&tt.c, tt.to, tt.lease)
			if m.Type != protocol.TypeError || m.Error.Code != tt.want {
				t.Errorf("got %+v, want %s", m, tt.want)
			}
		})
	}
	if d := e.dataset(c.DatasetID); d.Status != dataset.Fetching {
		t.Fatalf("refused reports moved the dataset to %s", d.Status)
	}
	// A report and its resend are both acknowledged; the timeline has it once.
	for range 2 {
		if m := a.report(c, dataset.Mapping, c.LeaseID); m.Type != protocol.TypeAck {
			t.Fatalf("report Mapping: %+v", m)
		}
	}
	d := e.dataset(c.DatasetID)
	n := 0
	for _, tr := range d.Timeline {
		if tr.To == dataset.Mapping {
			n++
		}
	}
	if d.Status != dataset.Mapping || n != 1 {
		t.Errorf("after a duplicate report: %s with %d Mapping entries", d.Status, n)
	}
}

func TestAgentCannotTouchAnotherCompany(t *testing.T) {
	e := newEnv(t)
	if err := e.st.CreateCompany(t.Context(), store.Company{ID: "co-2", Name: "Other", Created: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	conn1, cred1 := e.linked()
	conn2, code := e.connection("co-2")
	r2 := e.link(code, "")
	a1, _ := e.connect(cred1, append(all(conn1), all(conn2)...)) // names a binding it does not have
	other, _, _ := e.st.QueuedDatasets(t.Context(), conn2)
	// Claim another company's dataset: not found.
	if m := a1.claim(other[0].ID); m.Type != protocol.TypeError || m.Error.Code != protocol.CodeNotFound {
		t.Errorf("claim of another company's dataset: %+v", m)
	}
	// No offer for the other company's connection ever reaches agent 1.
	a2, _ := e.connect(r2.Credential, all(conn2))
	c2 := a2.claim(other[0].ID).Claimed
	if m := a1.report(&protocol.Claimed{Offer: protocol.Offer{CompanyID: "co-2", DatasetID: c2.DatasetID}}, dataset.Mapping, c2.LeaseID); m.Type != protocol.TypeError {
		t.Errorf("report on another agent's dataset with its lease: %+v", m)
	}
	if status, _ := e.putPage(cred1, c2.DatasetID, c2.LeaseID, 1, mustPage(t, `{"id":"x"}`)); status != 404 {
		t.Errorf("upload to another agent's dataset: %d, want 404", status)
	}
	if status, _ := e.commit(cred1, c2.DatasetID, protocol.CommitRequest{LeaseID: c2.LeaseID}); status != 404 {
		t.Errorf("commit of another agent's dataset: %d, want 404", status)
	}
	if d := e.dataset2("co-2", c2.DatasetID); d.Status != dataset.Fetching {
		t.Errorf("the other company's dataset moved to %s", d.Status)
	}
}

func (e *env) dataset2(co, id string) store.Dataset {
	d, err := e.st.Dataset(e.t.Context(), co, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func mustPage(t *testing.T, recs ...string) []byte {
	b, _ := page(t, recs...)
	return b
}

func TestLeaseExpiryRequeuesThenFails(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	id := queued[0].ID
	for attempt := 1; attempt <= 3; attempt++ {
		m := a.claim(id)
		if m.Type != protocol.TypeClaimed || m.Claimed.Attempt != attempt {
			t.Fatalf("attempt %d: claim %+v", attempt, m)
		}
		e.clock.Add(61 * time.Second)
		e.hub.ExpireLeases(t.Context())
		d := e.dataset(id)
		if attempt < 3 {
			if d.Status != dataset.Queued || d.Attempt != attempt+1 {
				t.Fatalf("after expiry %d: %s attempt %d", attempt, d.Status, d.Attempt)
			}
			// The requeued dataset is offered again.
			for {
				if o := a.expect(protocol.TypeOffer); o.Offer.DatasetID == id {
					break
				}
			}
		} else if d.Status != dataset.FetchError || d.ErrorMessage != store.MsgAgentOffline {
			t.Fatalf("after the third expiry: %s %q", d.Status, d.ErrorMessage)
		}
	}
}

func TestHeartbeatRenewsLease(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed
	for range 4 {
		e.clock.Add(40 * time.Second)
		if m := a.reply(protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: e.clock.Now(), RTTMillis: 3}}); m.Type != protocol.TypeAck {
			t.Fatalf("heartbeat: %+v", m)
		}
		e.hub.ExpireLeases(t.Context())
	}
	if d := e.dataset(c.DatasetID); d.Status != dataset.Fetching || d.LeaseID != c.LeaseID {
		t.Errorf("a heartbeating agent lost its lease: %s", d.Status)
	}
}

func TestResumeAfterReconnect(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed
	a.ws.Close()
	lost := protocol.Lease{DatasetID: queued[1].ID, LeaseID: "never-held"}
	b, w := e.connect(cred, all(conn), protocol.Lease{DatasetID: c.DatasetID, LeaseID: c.LeaseID}, lost)
	if len(w.Resumed) != 1 || w.Resumed[0].DatasetID != c.DatasetID {
		t.Fatalf("resumed %+v, want only %s", w.Resumed, c.DatasetID)
	}
	if m := b.report(c, dataset.Mapping, c.LeaseID); m.Type != protocol.TypeAck {
		t.Errorf("report after resume: %+v", m)
	}
}

// An agent that reconnects without naming a lease it holds (a restarted
// process) lost that work: the dataset is queued again at once, under the
// next attempt, and offered; its heartbeats must not keep it for ever.
func TestLeaseNotNamedOnReconnectIsQueuedAgain(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed
	a.ws.Close()
	b, w := e.connect(cred, all(conn))
	if len(w.Resumed) != 0 {
		t.Fatalf("resumed %+v, want none", w.Resumed)
	}
	d := e.dataset(c.DatasetID)
	if d.Status != dataset.Queued || d.Attempt != 2 || d.LeaseID != "" {
		t.Fatalf("dataset after a reconnect without its lease: %s attempt %d lease %q, want Queued attempt 2 and no lease", d.Status, d.Attempt, d.LeaseID)
	}
	if m := b.report(c, dataset.Mapping, c.LeaseID); m.Type != protocol.TypeError || m.Error.Code != protocol.CodeStaleLease {
		t.Errorf("report under the lost lease: %+v, want stale_lease", m)
	}
}

func TestNewerConnectionSupersedes(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	old, _ := e.connect(cred, all(conn))
	e.connect(cred, all(conn))
	_ = old.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := old.ws.ReadMessage()
		if err == nil {
			continue
		}
		ce, ok := err.(*websocket.CloseError)
		if !ok || ce.Text != "superseded by a newer connection" {
			t.Fatalf("old connection ended with %v, want superseded", err)
		}
		break
	}
}

func TestGarbageOnTheWebsocket(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	for _, raw := range []string{`not json`, `{"type":"launch","id":"x"}`, `{"type":"report","id":"r"}`, `{"type":"welcome","id":"w","welcome":{"agentId":"me"}}`} {
		if err := a.ws.WriteMessage(websocket.TextMessage, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		m := a.expect(protocol.TypeError)
		if m.Error.Code != protocol.CodeBadMessage {
			t.Errorf("%s: answered %+v", raw, m.Error)
		}
	}
	// Still serving: a heartbeat is acknowledged.
	if m := a.reply(protocol.Message{Type: protocol.TypeHeartbeat, ID: "hb", Heartbeat: &protocol.Heartbeat{}}); m.Type != protocol.TypeAck {
		t.Errorf("after garbage: %+v", m)
	}
	// An oversized message ends the connection, not the process.
	big := make([]byte, protocol.MaxMessageBytes+10)
	_ = a.ws.WriteMessage(websocket.TextMessage, big)
	_ = a.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := a.ws.ReadMessage(); err != nil {
			break
		}
	}
	b, _ := e.connect(cred, all(conn))
	if m := b.reply(protocol.Message{Type: protocol.TypeHeartbeat, ID: "hb2", Heartbeat: &protocol.Heartbeat{}}); m.Type != protocol.TypeAck {
		t.Errorf("after an oversized message: %+v", m)
	}
}

func TestVersionMismatch(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	ws, _, err := e.dial(cred)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	a := &agent{t: t, ws: ws}
	a.send(protocol.Message{Type: protocol.TypeHello, ID: "h", Hello: &protocol.Hello{Versions: []int{7}}})
	if m := a.expect(protocol.TypeError); m.Error.Code != protocol.CodeVersion {
		t.Errorf("got %+v, want unsupported_version", m.Error)
	}
	// The agent is too old: its connection says so until it connects.
	outdated := func() (store.ConnectionError, bool) {
		c, err := e.st.Connection(t.Context(), e.co, conn)
		if err != nil {
			t.Fatal(err)
		}
		return rules.ActiveError(c, store.ConnErrAgentOutdated)
	}
	waitUntil(t, "the AgentOutdated error", func() bool { _, ok := outdated(); return ok })
	if got, _ := outdated(); !strings.Contains(got.ErrorMessage, "[7]") {
		t.Errorf("AgentOutdated error %+v, want the versions it offered", got)
	}
	e.connect(cred, all(conn))
	waitUntil(t, "the AgentOutdated error resolved", func() bool { _, ok := outdated(); return !ok })
}

func TestProgressReportsMoveTheDataset(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed
	if m := a.report(c, dataset.Mapping, c.LeaseID); m.Type != protocol.TypeAck {
		t.Fatalf("report Mapping: %+v", m)
	}
	for _, p := range []int{55, 50, 70} {
		m := a.reply(protocol.Message{Type: protocol.TypeReport, ID: uuid.NewString(), Report: &protocol.Report{
			CompanyID: c.CompanyID, DatasetID: c.DatasetID, LeaseID: c.LeaseID, To: dataset.Mapping, Progress: p}})
		if m.Type != protocol.TypeAck {
			t.Fatalf("progress %d: %+v", p, m)
		}
	}
	if d := e.dataset(c.DatasetID); d.Progress != 70 || d.Status != dataset.Mapping {
		t.Errorf("progress %d (%s), want 70: it only rises", d.Progress, d.Status)
	}
}

// A heartbeat renews leases only while the agent may hold one: an idle
// agent's heartbeats read nothing from the store; after a claim they
// renew, until a renewal finds no lease left.
func TestIdleHeartbeatRenewsNothing(t *testing.T) {
	var ws *watchedStore
	e := newEnvWith(t, func(c *Config) {
		ws = &watchedStore{Store: c.Store}
		c.Store = ws
	})
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	renewals := func() int {
		_, _, r := ws.counts()
		return r
	}
	heartbeat := func(want int) {
		t.Helper()
		if m := a.reply(protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: e.clock.Now()}}); m.Type != protocol.TypeAck {
			t.Fatalf("heartbeat: %+v", m)
		}
		if got := renewals(); got != want {
			t.Errorf("lease renewals: got %d, want %d", got, want)
		}
	}
	connected := renewals() // the handshake's, which resumes leases
	heartbeat(connected)
	heartbeat(connected)
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed
	heartbeat(connected + 1)
	heartbeat(connected + 2)
	d := e.dataset(c.DatasetID)
	if d.LeaseID != c.LeaseID {
		t.Fatalf("the claimed dataset's lease: got %q, want %q", d.LeaseID, c.LeaseID)
	}
	if err := e.st.RevokeLease(t.Context(), d.LeaseAgent, d.CompanyID, d.ID); err != nil {
		t.Fatal(err)
	}
	heartbeat(connected + 3) // finds no lease
	heartbeat(connected + 3)
}
