package portal

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/api"
	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/publish"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	clientKey  = "portal-test-client-key"
	supportKey = "portal-test-support-key"
)

// env is a Portal over a real Badger store with one company ("co") and one
// PendingAuth gnucash connection ("cn"), and a real hub serving agents on
// the same loopback server.
type env struct {
	t   *testing.T
	h   *Handler
	st  *badgerstore.Badger
	q   *queue.Queuer
	hub *hub.Hub
	srv *httptest.Server
}

// testHeartbeat is the hub's heartbeat in the tests.
const testHeartbeat = 500 * time.Millisecond

func newEnv(t *testing.T, publicURL string) *env {
	t.Helper()
	return newEnvWith(t, publicURL, nil)
}

// newEnvWith is newEnv with the hub's and the Portal's configurations
// changed by edit first.
func newEnvWith(t *testing.T, publicURL string, edit func(*hub.Config, *Config)) *env {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now().UTC()
	for key, scope := range map[string]store.Scope{clientKey: store.ScopeClient, supportKey: store.ScopeSupport} {
		if err := api.EnsureKey(ctx, st, key, string(scope)+" key", scope, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateCompany(ctx, store.Company{ID: "co", Name: "Acme Ltd", Created: now}); err != nil {
		t.Fatal(err)
	}
	conn := store.Connection{ID: "cn", CompanyID: "co", PlatformKey: "gnucash", Status: store.PendingAuth, Created: now}
	if err := st.CreateConnection(ctx, conn, store.LinkCode{Hash: []byte("h"), CompanyID: "co", ConnectionID: "cn", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	q := queue.New(st)
	log := slog.New(slog.DiscardHandler)
	pub := publish.New(publish.Config{Store: st, Logger: log})
	hcfg := hub.Config{Store: st, Queuer: q, Publisher: pub, Feed: st.Feed(), Logger: log, HeartbeatInterval: testHeartbeat, ExpiryInterval: time.Hour}
	fl := fleet.New(fleet.Config{Store: st, Feed: st.Feed(), Logger: log})
	pcfg := Config{Store: st, Queuer: q, Fleet: fl, Logger: log, PublicURL: publicURL, LiveInterval: 5 * time.Millisecond}
	if edit != nil {
		edit(&hcfg, &pcfg)
	}
	hb := hub.New(hcfg)
	pcfg.Agents = hb
	h := New(pcfg)
	mux := http.NewServeMux()
	mux.Handle("/agent/", hb.Handler())
	mux.Handle("/portal/", h)
	srv := httptest.NewServer(mux)
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	fl.Start()
	t.Cleanup(func() {
		fl.Close()
		h.Close()
		hb.Close()
		pub.Close()
		srv.Close()
		st.Close()
	})
	return &env{t: t, h: h, st: st, q: q, hub: hb, srv: srv}
}

// browser is a client with its own cookie jar that does not follow
// redirects, so tests see them.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signedIn returns a browser signed in with the key.
func (e *env) signedIn(key string) *browser {
	e.t.Helper()
	b := e.browser()
	resp, _ := b.signIn(key)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/portal/companies" && loc != "/portal/fleet" {
		e.t.Fatalf("sign in with %s: %d %s", key, resp.StatusCode, resp.Header.Get("Location"))
	}
	return b
}

// signIn fills in and posts the sign-in form.
func (b *browser) signIn(key string) (*http.Response, string) {
	b.e.t.Helper()
	_, body := b.get("/portal/signin")
	return b.post("/portal/signin", url.Values{"csrf": {csrfOf(b.e.t, body)}, "key": {key}})
}

func (b *browser) get(path string) (*http.Response, string) {
	b.e.t.Helper()
	return b.do(must(http.NewRequest("GET", b.e.srv.URL+path, nil)))
}

func (b *browser) post(path string, form url.Values, headers ...string) (*http.Response, string) {
	b.e.t.Helper()
	req := must(http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode())))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// token returns the CSRF token of the browser's session, from a page.
func (b *browser) token() string {
	b.e.t.Helper()
	_, body := b.get("/portal/companies")
	return csrfOf(b.e.t, body)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", body)
	}
	return m[1]
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// waitFor checks cond every 10 ms until it holds, or fails the test
// after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
