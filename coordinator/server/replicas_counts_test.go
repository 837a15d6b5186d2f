package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestReplicasCountAgentsOnline: with one agent on A and one on B, both
// replicas' Portal and /metrics say 2 online (and 1 connected to each);
// when A's agent goes, B says 1.
func TestReplicasCountAgentsOnline(t *testing.T) { onBackends(t, testReplicasCountAgentsOnline) }

func testReplicasCountAgentsOnline(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, nil, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	key := testConfig(t).AdminKey
	onA := connectAgent(t, a, storedAgent(t, a, "agent-1"), "conn-1")
	connectAgent(t, b, storedAgent(t, b, "agent-2"), "conn-2")

	portal := portalBrowser(t, a, key)
	metric := func(srv *Server, name string) string {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(string(body))
		if m == nil {
			t.Fatalf("/metrics on %s lacks %s", srv.ReplicaID(), name)
		}
		return m[1]
	}
	online := regexp.MustCompile(`title="agents online">(\d+) online<`)
	shows := func(srv *Server, n string) bool {
		m := online.FindStringSubmatch(portal(srv, "/portal/companies"))
		return m != nil && m[1] == n && metric(srv, "ferry_agents_online") == n
	}
	for _, srv := range srvs {
		waitFor(t, "2 agents online on "+srv.ReplicaID(), func() bool { return shows(srv, "2") })
		if got := metric(srv, "ferry_agents_connected"); got != "1" {
			t.Errorf("ferry_agents_connected on %s = %s, want 1", srv.ReplicaID(), got)
		}
	}
	onA.Close()
	waitFor(t, "1 agent online on B once A's has gone", func() bool { return shows(b, "1") })
}

// portalBrowser signs in to the Portal on srv with key and returns a
// function that gets a page from any replica in that session.
func portalBrowser(t *testing.T, srv *Server, key string) func(srv *Server, path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil) // cookies ignore the port: one browser for every replica
	br := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, u string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(form.Encode()))
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
	_, body := do("GET", "http://"+srv.Addr()+"/portal/signin", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", body)
	}
	if code, _ := do("POST", "http://"+srv.Addr()+"/portal/signin", url.Values{"csrf": {m[1]}, "key": {key}}); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	return func(srv *Server, path string) string {
		t.Helper()
		code, body := do("GET", "http://"+srv.Addr()+path, nil)
		if code != 200 {
			t.Fatalf("GET %s on %s: %d", path, srv.ReplicaID(), code)
		}
		return body
	}
}

// TestReplicasShareUploadLimit: an agent's uploads split across two
// replicas are held to one limit (protocol.UploadsPerAgent): with half
// of it in flight on A and half on B, one more is 429 on either; once
// one ends, another goes through.
func TestReplicasShareUploadLimit(t *testing.T) { onBackends(t, testReplicasShareUploadLimit) }

func testReplicasShareUploadLimit(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, nil, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	cred := storedAgent(t, a, "agent-1")
	ds, lease := mappingFor(t, a, "agent-1")
	put := func(srv *Server, n int, body io.Reader) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(t.Context(), "PUT", "http://"+srv.Addr()+protocol.PagePath(ds, n), body)
		req.Header.Set("Authorization", "Bearer "+cred)
		req.Header.Set(protocol.LeaseHeader, lease)
		req.Header.Set(protocol.PageBytesHeader, "100")
		req.Header.Set("Content-Encoding", "gzip")
		return http.DefaultClient.Do(req)
	}
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	defer wg.Wait()
	defer func() {
		for _, pw := range pipes {
			pw.Close()
		}
	}()
	const limit = protocol.UploadsPerAgent
	for i := range limit {
		srv := []*Server{a, b}[i%2]
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		wg.Go(func() {
			if resp, err := put(srv, i+1, pr); err == nil {
				resp.Body.Close()
			}
		})
	}
	// The probe's slot ended a minute ago for every real take, so it
	// never makes an upload of the test's refused.
	allHeld := func() bool {
		token, err := a.Store.TakeUploadSlot(t.Context(), "agent-1", limit, time.Now().Add(-time.Minute), time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if token == "" {
			return true
		}
		if err := a.Store.ReturnUploadSlot(t.Context(), "agent-1", token); err != nil {
			t.Fatal(err)
		}
		return false
	}
	waitFor(t, "the limit's uploads in flight, half on each replica", allHeld)
	for _, srv := range srvs {
		resp, err := put(srv, limit+1, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("one upload more than %d on %s: %d (Retry-After %q), want 429 with Retry-After", limit, srv.ReplicaID(), resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	pipes[0].CloseWithError(errors.New("gone"))
	waitFor(t, "A's first upload to end", func() bool { return !allHeld() })
	raw := []byte(`{"id":"acme","companyName":"Acme Ltd"}` + "\n")
	var page bytes.Buffer
	zw := gzip.NewWriter(&page)
	zw.Write(raw)
	zw.Close()
	if code, out := agentCall(t, b, cred, "PUT", protocol.PagePath(ds, limit+1), page.Bytes(), map[string]string{
		protocol.LeaseHeader: lease, protocol.RecordsHeader: "1", protocol.PageBytesHeader: strconv.Itoa(len(raw)),
		"Content-Type": protocol.PageContentType, "Content-Encoding": "gzip"}); code != 200 {
		t.Errorf("an upload on B once one on A ended: %d %s, want 200", code, out)
	}
}

// mappingFor queues a company sync for agent, bound to a new connection,
// through srv, and claims it for the agent in Mapping; it returns the
// dataset and its lease.
func mappingFor(t *testing.T, srv *Server, agent string) (string, string) {
	t.Helper()
	key := testConfig(t).AdminKey
	var co struct{ ID string }
	if code := apiCall(t, srv, key, "POST", "/companies", map[string]any{"name": "Acme"}, &co); code != 200 {
		t.Fatalf("create company: %d", code)
	}
	conn := store.Connection{ID: "conn-1", CompanyID: co.ID, PlatformKey: "csv", Status: store.Linked, Created: time.Now(), AgentID: agent}
	if err := srv.Store.CreateConnection(t.Context(), conn, store.LinkCode{Hash: []byte("code-hash"), CompanyID: co.ID,
		ConnectionID: conn.ID, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var ds struct{ ID string }
	if code := apiCall(t, srv, key, "POST", "/companies/"+co.ID+"/data/queue/"+string(dataset.Company), nil, &ds); code != 200 {
		t.Fatalf("queue: %d", code)
	}
	const lease = "lease-1"
	if _, err := srv.Store.Claim(t.Context(), store.ClaimRequest{DatasetID: ds.ID, AgentID: agent, LeaseID: lease,
		Now: time.Now(), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Store.Report(t.Context(), store.Report{CompanyID: co.ID, DatasetID: ds.ID, LeaseID: lease,
		Actor: agent, To: dataset.Mapping, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return ds.ID, lease
}

// TestReplicasCoalesceRefusals: 20 calls with a revoked credential, split
// across two replicas, record one CredentialRefused event, and the
// store's window counts the other 19 for the next.
func TestReplicasCoalesceRefusals(t *testing.T) { onBackends(t, testReplicasCoalesceRefusals) }

func testReplicasCoalesceRefusals(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, nil, "replica-a", "replica-b")
	a := srvs[0]
	cred := storedAgent(t, a, "agent-1")
	if err := a.Hub.RevokeAgent(t.Context(), "agent-1", "test"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if code, _ := agentCall(t, srvs[i%2], cred, "POST", protocol.CommitPath("ds-1"), []byte("{}"), nil); code != 401 {
			t.Fatalf("call %d with a revoked credential: %d, want 401", i, code)
		}
	}
	evs, err := a.Store.AgentEvents(t.Context(), "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range evs {
		if ev.Type == store.EventCredentialRefused {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d CredentialRefused events after 20 refused calls on two replicas, want 1", refused)
	}
	got, err := a.Store.TakeRefusals(t.Context(), time.Now().Add(2*time.Minute), time.Minute)
	if err != nil || len(got) != 1 || got[0].N != 19 {
		t.Errorf("the window after them: %+v, %v; want 19 refusals counted after the first", got, err)
	}
}
