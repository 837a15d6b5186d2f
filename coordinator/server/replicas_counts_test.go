package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
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
