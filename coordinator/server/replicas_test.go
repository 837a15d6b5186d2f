package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// replicaSet serves one coordinator per id on one Badger store, as
// replicas on one database; each is stopped when the test ends, or
// earlier by its stop function.
func replicaSet(t *testing.T, edit func(*Config), ids ...string) ([]*Server, []func()) {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return replicasOn(t, st, edit, ids...)
}

// replicasOn is replicaSet on a store of the test's; it closes it at the
// end.
func replicasOn(t *testing.T, st store.Backend, edit func(*Config), ids ...string) ([]*Server, []func()) {
	t.Helper()
	var srvs []*Server
	var stops []func()
	for _, id := range ids {
		cfg := testConfig(t)
		cfg.ReplicaID, cfg.LeaderTTL = id, time.Second
		if edit != nil {
			edit(&cfg)
		}
		srv, err := NewWithStore(t.Context(), cfg, st, slog.New(slog.DiscardHandler), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx) }()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve %s: %v", id, err)
			}
		}
		srvs, stops = append(srvs, srv), append(stops, stop)
	}
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return srvs, stops
}

// TestReplicasShareAgents: two coordinators on one store. An agent
// connected to B is Online on A's API with B's replicaId; a sync queued
// through A's API is offered to it on B; its newer channel on A
// supersedes B's.
func TestReplicasShareAgents(t *testing.T) {
	srvs, _ := replicaSet(t, nil, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	key := testConfig(t).AdminKey
	cred := storedAgent(t, a, "agent-1")
	var co struct{ ID string }
	if code := apiCall(t, a, key, "POST", "/companies", map[string]any{"name": "Acme"}, &co); code != 200 {
		t.Fatalf("create company: %d", code)
	}
	conn := store.Connection{ID: "conn-1", CompanyID: co.ID, PlatformKey: "csv", Status: store.Linked, Created: time.Now(), AgentID: "agent-1"}
	if err := a.Store.CreateConnection(t.Context(), conn, store.LinkCode{Hash: []byte("code-hash"), CompanyID: co.ID,
		ConnectionID: conn.ID, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	onB := connectAgent(t, b, cred, conn.ID)
	agent := func(srv *Server) (status, replica string) {
		var v struct{ Status, ReplicaID string }
		if code := apiCall(t, srv, key, "GET", "/agents/agent-1", nil, &v); code != 200 {
			t.Fatalf("GET /agents/agent-1: %d", code)
		}
		return v.Status, v.ReplicaID
	}
	for _, srv := range []*Server{a, b} {
		if s, r := agent(srv); s != "Online" || r != "replica-b" {
			t.Errorf("the agent on B, through %s: %s on %q; want Online on replica-b", srv.ReplicaID(), s, r)
		}
	}

	var ds struct{ ID string }
	if code := apiCall(t, a, key, "POST", "/companies/"+co.ID+"/data/queue/"+string(dataset.Invoices), nil, &ds); code != 200 || ds.ID == "" {
		t.Fatalf("queue through A: %d %q", code, ds.ID)
	}
	_ = onB.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m protocol.Message
		if err := onB.ReadJSON(&m); err != nil {
			t.Fatalf("waiting on B for the offer of %s, queued through A: %v", ds.ID, err)
		}
		if m.Type == protocol.TypeOffer && m.Offer.DatasetID == ds.ID {
			break
		}
	}

	connectAgent(t, a, cred, conn.ID)
	_ = onB.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := onB.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			if ce.Text != store.ReasonSuperseded {
				t.Errorf("B's channel closed with %q, want superseded", ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("waiting for B's channel to close: %v", err)
		}
	}
	waitFor(t, "the agent on A, through B", func() bool { s, r := agent(b); return s == "Online" && r == "replica-a" })
}

// connectAgent opens an agent's control channel to srv serving conn and
// returns it once welcomed.
func connectAgent(t *testing.T, srv *Server, cred, conn string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws://"+srv.Addr()+protocol.ConnectPath, http.Header{"Authorization": {"Bearer " + cred}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteJSON(protocol.Message{Type: protocol.TypeHello, ID: "h", Hello: &protocol.Hello{
		Versions: []int{protocol.Version}, Hostname: "pc", OS: "linux", AgentVersion: "test", Capacity: 2,
		Bindings: []protocol.Binding{{ConnectionID: conn, DataTypes: dataset.DataTypes}}}}); err != nil {
		t.Fatal(err)
	}
	var m protocol.Message
	if err := ws.ReadJSON(&m); err != nil || m.Type != protocol.TypeWelcome {
		t.Fatalf("hello: %v %s, want welcome", err, m.Type)
	}
	return ws
}

// TestReplicasOneLeader: of two coordinators on one store one runs the
// once-only work; when it stops, the other takes it over.
func TestReplicasOneLeader(t *testing.T) {
	srvs, stops := replicaSet(t, nil, "replica-a", "replica-b")
	waitFor(t, "a leader", func() bool { return srvs[0].Leading() || srvs[1].Leading() })
	first, second := 0, 1
	if srvs[1].Leading() {
		first, second = 1, 0
	}
	if srvs[second].Leading() {
		t.Fatal("both lead")
	}
	stops[first]()
	waitFor(t, "the other to lead", srvs[second].Leading)
}

// TestReplicasShareLimitsAndSessions: failed authentications split across
// two coordinators count together; the Portal's sign-in form served by one
// signs in on the other; a session opened on one is one on the other, and
// signing out on the other ends it on both.
func TestReplicasShareLimitsAndSessions(t *testing.T) {
	srvs, _ := replicaSet(t, func(c *Config) { c.MaxAuthFailures = 4 }, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	key := testConfig(t).AdminKey
	for i := range 2 {
		for _, srv := range srvs {
			apiCall(t, srv, fmt.Sprintf("wrong-%d", i), "GET", "/companies", nil, nil)
		}
	}
	for _, srv := range srvs {
		if code := apiCall(t, srv, key, "GET", "/companies", nil, nil); code != 429 {
			t.Errorf("the admin key on %s after 2+2 failures: %d, want 429", srv.ReplicaID(), code)
		}
	}

	jar, _ := cookiejar.New(nil) // cookies ignore the port: one browser for both
	br := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(srv *Server, method, path string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+srv.Addr()+path, strings.NewReader(form.Encode()))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := br.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	token := func(body string) string {
		m := csrf.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no csrf field in:\n%s", body)
		}
		return m[1]
	}
	// The form comes from B, the post goes to A.
	_, body := page(b, "GET", "/portal/signin", nil)
	if code, _ := page(a, "POST", "/portal/signin", url.Values{"csrf": {token(body)}, "key": {key}}); code != http.StatusSeeOther {
		t.Fatalf("sign in on A with B's form: %d", code)
	}
	code, body := page(b, "GET", "/portal/companies", nil)
	if code != 200 {
		t.Fatalf("the session on B: %d, want 200", code)
	}
	if code, _ := page(b, "POST", "/portal/signout", url.Values{"csrf": {token(body)}}); code != http.StatusSeeOther {
		t.Fatalf("sign out on B: %d", code)
	}
	for _, srv := range []*Server{a, b} {
		if code, _ := page(srv, "GET", "/portal/companies", nil); code != http.StatusSeeOther {
			t.Errorf("after sign-out, %s: %d, want 303 to sign-in", srv.ReplicaID(), code)
		}
	}
}

// TestStoreURL: --store takes a postgres:// or postgresql:// URL, which
// opens the PostgreSQL store, or nothing (Badger); anything else is
// refused by name.
func TestStoreURL(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store = "mysql://db/ferry"
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "store:") {
		t.Errorf("a mysql URL: %v, want refused naming store", err)
	}
	pg, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	db, err := pg.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{db, "postgresql" + strings.TrimPrefix(db, "postgres")} {
		cfg := testConfig(t)
		cfg.Store = u
		srv := serve(t, cfg)
		if _, ok := srv.Store.(*pgstore.PG); !ok {
			t.Errorf("%s: the store is a %T, want *pgstore.PG", u, srv.Store)
		}
	}
}

// TestGoneReplicaReleased: the channels claimed by a replica whose
// presence lease expired (killed) are released by the leader, so its
// agents show offline; those of a replica alive stay.
func TestGoneReplicaReleased(t *testing.T) {
	srvs, _ := replicaSet(t, nil, "replica-a")
	a := srvs[0]
	key := testConfig(t).AdminKey
	ctx := t.Context()
	for _, r := range []struct {
		replica string
		renewed time.Time
	}{{"replica-gone", time.Now().Add(-time.Hour)}, {"replica-alive", time.Now()}} {
		storedAgent(t, a, "agent-on-"+r.replica)
		if _, err := a.Store.ClaimChannel(ctx, "agent-on-"+r.replica, r.replica); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Store.AcquireLease(ctx, presenceLease(r.replica), r.replica, r.renewed, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	status := func(agent string) string {
		var v struct{ Status string }
		apiCall(t, a, key, "GET", "/agents/"+agent, nil, &v)
		return v.Status
	}
	waitFor(t, "the gone replica's agent offline", func() bool { return status("agent-on-replica-gone") == "Offline" })
	if got := status("agent-on-replica-alive"); got != "Online" {
		t.Errorf("the agent of a replica alive: %s, want Online", got)
	}
	if holder, _, _ := a.Store.Lease(ctx, presenceLease("replica-a")); holder != "replica-a" {
		t.Errorf("replica-a's presence lease held by %q, want itself", holder)
	}
}

// TestLeaderResumesUploads: an upload a coordinator left committed, in
// Validating (it stopped, or died, before finishing it), is finished by
// the leader of the replicas that start on the store.
func TestLeaderResumesUploads(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, now := t.Context(), time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateCompany(ctx, store.Company{ID: "co", Name: "Acme", Created: now}))
	must(st.CreateAgent(ctx, store.Agent{ID: "agent-1", CredentialHash: []byte("cred"), Created: now}))
	must(st.CreateConnection(ctx, store.Connection{ID: "conn", CompanyID: "co", PlatformKey: "csv", Status: store.Linked,
		Created: now, AgentID: "agent-1"}, store.LinkCode{Hash: []byte("code"), CompanyID: "co", ConnectionID: "conn", Expires: now.Add(time.Hour)}))
	d, err := st.QueueDataset(ctx, store.QueueRequest{ID: "ds", CompanyID: "co", ConnectionID: "conn", DataType: dataset.Customers, Now: now})
	must(err)
	_, err = st.Claim(ctx, store.ClaimRequest{DatasetID: d.ID, AgentID: "agent-1", LeaseID: "lease", Now: now, TTL: time.Hour})
	must(err)
	_, err = st.Report(ctx, store.Report{CompanyID: "co", DatasetID: d.ID, LeaseID: "lease", Actor: "agent-1", To: dataset.Mapping, Now: now})
	must(err)
	rec := `{"id":"C001","customerName":"Bluebell Cafe","status":"Active"}`
	must(st.PutPage(ctx, store.Page{AgentID: "agent-1", DatasetID: d.ID, LeaseID: "lease", N: 1, Records: 1, Data: []byte(rec + "\n"),
		Lines: []store.Line{{ID: "C001", Start: 0, End: len(rec)}}}))
	_, err = st.CommitUpload(ctx, "agent-1", d.ID, "lease", now)
	must(err)

	srvs, _ := replicasOn(t, st, nil, "replica-a", "replica-b")
	waitFor(t, "the upload finished", func() bool {
		d, err := srvs[0].Store.Dataset(ctx, "co", "ds")
		return err == nil && d.Status.Terminal()
	})
	if d, _ := srvs[0].Store.Dataset(ctx, "co", "ds"); d.Status != dataset.Complete {
		t.Errorf("the resumed upload: %s, want Complete", d.Status)
	}
}
