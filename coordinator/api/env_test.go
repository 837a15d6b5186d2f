package api

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

const adminKey = "test-admin-key"

// clock is a settable time for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a real API server on a loopback port over a real Badger store.
type env struct {
	t     *testing.T
	url   string
	st    *badgerstore.Badger
	clock *clock
	q     *queue.Queuer
	srv   *Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the API's Config changed by edit first.
func newEnvWith(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	q := queue.New(st)
	q.Now = clk.Now
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg := Config{Store: st, Queuer: q, Agents: noAgents{}, Logger: log, PublicURL: "http://ferry.test", Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	srv := New(cfg)
	srv.SetReady(true)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if err := EnsureKey(t.Context(), st, adminKey, "admin", store.ScopeClient, clk.Now()); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: hs.URL, st: st, clock: clk, q: q, srv: srv}
}

// call sends a request with the admin key (Bearer); body may be nil, a
// string (sent as is) or a value (sent as JSON).
func (e *env) call(method, path string, body any) (int, []byte) {
	return e.callWith("Bearer "+adminKey, method, path, body)
}

func (e *env) callWith(auth, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// must calls and fails the test unless the status is want; it decodes the
// body into v when v is not nil.
func (e *env) must(want int, method, path string, body, v any) []byte {
	e.t.Helper()
	got, out := e.call(method, path, body)
	if got != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, want, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
	return out
}

// apiError decodes and checks an error response: the status, the shape,
// and that the message contains each of wantIn.
func (e *env) apiError(status int, body []byte, wantStatus, wantCode int, wantIn ...string) {
	e.t.Helper()
	if status != wantStatus {
		e.t.Fatalf("status %d, want %d; body %s", status, wantStatus, body)
	}
	checkSchema(e.t, "ErrorMessage", body)
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		e.t.Fatalf("error body %s: %v", body, err)
	}
	if eb.StatusCode != wantStatus || eb.DetailedErrorCode != wantCode || eb.Service != "Ferry" || eb.CorrelationID == "" {
		e.t.Errorf("error body %+v, want statusCode %d, detailedErrorCode %d, service Ferry, a correlation id", eb, wantStatus, wantCode)
	}
	for _, w := range wantIn {
		if !strings.Contains(eb.Error, w) {
			e.t.Errorf("error %q does not mention %q", eb.Error, w)
		}
	}
	if strings.Contains(string(body), "goroutine") || strings.Contains(string(body), ".go:") {
		e.t.Errorf("error body leaks internals: %s", body)
	}
}

func basic(key string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(key)) }

// company creates a company and returns its id.
func (e *env) company(name string) string {
	e.t.Helper()
	var c companyView
	e.must(200, "POST", "/companies", map[string]any{"name": name}, &c)
	return c.ID
}

// connection creates a connection and returns it.
func (e *env) connection(companyID, platform string) connectionView {
	e.t.Helper()
	var c connectionView
	e.must(200, "POST", "/companies/"+companyID+"/connections", map[string]any{"platformKey": platform}, &c)
	return c
}

// link binds a connection to an agent as the link exchange will.
func (e *env) link(companyID, connID, agentID string) {
	e.t.Helper()
	_, err := e.st.UpdateConnection(e.t.Context(), companyID, connID, func(c *store.Connection) error {
		c.Status, c.AgentID = store.Linked, agentID
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
