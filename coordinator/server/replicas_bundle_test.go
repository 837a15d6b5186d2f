package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestReplicasSupportBundle: with an agent connected to replica A, a
// support bundle asked through replica B's API reaches the agent on A;
// the agent uploads it through B, and both replicas list it Ready and
// serve its archive. B refuses the callers it must (no key, a wrong key,
// a deleted key, an unknown agent, an offline agent, an agent whose
// version does not know bundles) and the uploads it must (another
// agent's bundle, an unknown one, one too large, not gzip, a second
// upload, no credential), each before reading the body.
func TestReplicasSupportBundle(t *testing.T) { onBackends(t, testReplicasSupportBundle) }

func testReplicasSupportBundle(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, nil, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	admin := testConfig(t).AdminKey
	cred := storedAgent(t, a, "agent-1")
	oldCred := storedAgent(t, a, "agent-old")
	otherCred := storedAgent(t, a, "agent-other")
	storedAgent(t, a, "agent-off") // never connects
	var support struct{ ID, APIKey string }
	if code := apiCall(t, a, admin, "POST", "/apiKeys", map[string]any{"name": "desk", "scope": "support"}, &support); code != 201 {
		t.Fatalf("create a support key: %d", code)
	}
	ws := helloAgent(t, a, cred, []string{protocol.FeatureSupportBundle, protocol.FeatureLogLevel})
	helloAgent(t, a, oldCred, nil)

	var asked struct{ ID, AgentID, Status string }
	if code := apiCall(t, b, support.APIKey, "POST", "/agents/agent-1/supportBundle", nil, &asked); code != 202 ||
		asked.ID == "" || asked.AgentID != "agent-1" || asked.Status != "Collecting" {
		t.Fatalf("bundle through B: %d %+v; want 202 Collecting", code, asked)
	}
	m := expectType(t, ws, protocol.TypeSupportBundle)
	if m.SupportBundle.BundleID != asked.ID {
		t.Fatalf("the agent on A was asked for bundle %q, want %q", m.SupportBundle.BundleID, asked.ID)
	}

	archive := gzipped(t, "a bundle")
	path := protocol.BundlePath(asked.ID)
	gz := map[string]string{"Content-Type": protocol.BundleContentType}
	for _, c := range []struct {
		what, cred, path string
		body             []byte
		want             int
	}{
		{"no credential", "", path, archive, 401},
		{"another agent's credential", otherCred, path, archive, 404},
		{"an unknown bundle", cred, protocol.BundlePath("bundle-none"), archive, 404},
		{"not gzip", cred, path, []byte("plain text"), 400},
	} {
		if code, body := agentCall(t, b, c.cred, "PUT", c.path, c.body, gz); code != c.want {
			t.Errorf("upload, %s: %d %s, want %d", c.what, code, body, c.want)
		}
	}
	if code := hugeUpload(t, b, cred, path); code != 413 {
		t.Errorf("upload declaring %d bytes: %d, want 413", protocol.MaxBundleBytes+1, code)
	}
	if code, body := agentCall(t, b, cred, "PUT", path, archive, gz); code != 200 {
		t.Fatalf("upload through B: %d %s", code, body)
	}
	if code, _ := agentCall(t, a, cred, "PUT", path, archive, gz); code != 409 {
		t.Errorf("second upload: %d, want 409", code)
	}

	var list struct {
		Results []struct {
			ID, Status string
			Size       int64
		}
	}
	if code := apiCall(t, a, support.APIKey, "GET", "/agents/agent-1/supportBundles", nil, &list); code != 200 ||
		len(list.Results) != 1 || list.Results[0].ID != asked.ID || list.Results[0].Status != "Ready" ||
		list.Results[0].Size != int64(len(archive)) {
		t.Fatalf("bundles listed on A: %d %+v; want the one, Ready, %d bytes", code, list, len(archive))
	}
	if code, got := download(t, b, support.APIKey, "/agents/agent-1/supportBundles/"+asked.ID); code != 200 || !bytes.Equal(got, archive) {
		t.Errorf("download through B: %d, %d bytes; want 200 and the archive uploaded", code, len(got))
	}

	for _, c := range []struct {
		what, key, method, path string
		want                    int
	}{
		{"an unknown agent", support.APIKey, "POST", "/agents/agent-none/supportBundle", 404},
		{"an agent never connected", support.APIKey, "POST", "/agents/agent-off/supportBundle", 409},
		{"an agent too old for bundles", support.APIKey, "POST", "/agents/agent-old/supportBundle", 409},
		{"no key", "", "POST", "/agents/agent-1/supportBundle", 401},
		{"a wrong key", "wrong-key", "GET", "/agents/agent-1/supportBundles", 401},
		{"the list of an unknown agent", support.APIKey, "GET", "/agents/agent-none/supportBundles", 404},
		{"an unknown bundle", support.APIKey, "GET", "/agents/agent-1/supportBundles/bundle-none", 404},
		{"another agent's bundle", support.APIKey, "GET", "/agents/agent-other/supportBundles/" + asked.ID, 404},
	} {
		if code := apiCall(t, b, c.key, c.method, c.path, nil, nil); code != c.want {
			t.Errorf("%s %s through B, %s: %d, want %d", c.method, c.path, c.what, code, c.want)
		}
	}
	var refused struct{ DetailedErrorCode int }
	if apiCall(t, b, support.APIKey, "POST", "/agents/agent-old/supportBundle", nil, &refused); refused.DetailedErrorCode != 40006 {
		t.Errorf("bundle of an old agent: code %d, want 40006", refused.DetailedErrorCode)
	}
	if code := apiCall(t, a, admin, "DELETE", "/apiKeys/"+support.ID, nil, nil); code != 204 {
		t.Fatalf("delete the support key: %d", code)
	}
	if code := apiCall(t, b, support.APIKey, "GET", "/agents/agent-1/supportBundles", nil, nil); code != 401 {
		t.Errorf("bundles through B with a deleted key: %d, want 401", code)
	}
}

// helloAgent connects an agent to srv with the features given, serving no
// connection.
func helloAgent(t *testing.T, srv *Server, cred string, features []string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws://"+srv.Addr()+protocol.ConnectPath, http.Header{"Authorization": {"Bearer " + cred}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	send(t, ws, protocol.Message{Type: protocol.TypeHello, ID: "h", Hello: &protocol.Hello{
		Versions: []int{protocol.Version}, Hostname: "pc", OS: "linux", AgentVersion: "test", Capacity: 2,
		Bindings: []protocol.Binding{}, Features: features}})
	var m protocol.Message
	if err := ws.ReadJSON(&m); err != nil || m.Type != protocol.TypeWelcome {
		t.Fatalf("hello: %v %s, want welcome", err, m.Type)
	}
	return ws
}

// expectType reads an agent's control channel until a message of type
// want comes, and returns it.
func expectType(t *testing.T, ws *websocket.Conn, want protocol.Type) protocol.Message {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		var m protocol.Message
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if m.Type == want {
			return m
		}
	}
}

func gzipped(t *testing.T, s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hugeUpload declares a bundle over the limit and sends a few bytes of
// it: the refusal must come without the body.
func hugeUpload(t *testing.T, srv *Server, cred, path string) int {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req, _ := http.NewRequest("PUT", "http://"+srv.Addr()+path, pr)
	req.ContentLength = protocol.MaxBundleBytes + 1
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set("Content-Length", strconv.Itoa(protocol.MaxBundleBytes+1))
	go pw.Write([]byte{0x1f, 0x8b})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func download(t *testing.T, srv *Server, key, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}
