package linkpage

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// fixture is a link page server over a real Badger store, with company
// co and its PendingAuth connection cn.
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	st    *badgerstore.Badger
	links *linkcode.Links
	now   *time.Time
}

func setup(t *testing.T) *fixture {
	t.Helper()
	return setupWith(t, "")
}

func setupWith(t *testing.T, downloads string) *fixture {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	links := linkcode.NewLinks("https://ferry.example", bytes.Repeat([]byte{7}, 32))
	h := New(st, slog.New(slog.DiscardHandler), links, 7*24*time.Hour)
	h.Now = func() time.Time { return now }
	h.Downloads = downloads
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); st.Close() })
	f := &fixture{t: t, srv: srv, st: st, links: links, now: &now}
	if err := st.CreateCompany(t.Context(), store.Company{ID: "co", Name: "Müller & <Söhne>", Created: now}); err != nil {
		t.Fatal(err)
	}
	f.connection("cn", store.PendingAuth)
	return f
}

// connection creates a connection of co with a code, then gives it status.
func (f *fixture) connection(id string, status store.ConnectionStatus) {
	f.t.Helper()
	ctx := f.t.Context()
	_, hash := linkcode.New()
	c := store.Connection{ID: id, CompanyID: "co", PlatformKey: "gnucash", Status: store.PendingAuth, Created: *f.now}
	if err := f.st.CreateConnection(ctx, c, store.LinkCode{Hash: hash, Expires: f.now.Add(time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	if status == store.PendingAuth {
		return
	}
	_, err := f.st.UpdateConnection(ctx, "co", id, func(c *store.Connection) error {
		c.Status = status
		if status == store.Linked {
			c.AgentID = "agent-1"
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// page is the connection's link page path with its token.
func (f *fixture) page(conn string) string {
	return "/link/co/" + conn + "?token=" + f.links.ConnectionToken("co", conn)
}

// browser is an end user's browser: it keeps cookies, and its posts say
// they come from the page (Sec-Fetch-Site same-origin).
type browser struct {
	f      *fixture
	client *http.Client
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, client: &http.Client{Jar: jar}}
}

func (b *browser) get(path string) (int, string) {
	b.f.t.Helper()
	resp, err := b.client.Get(b.f.srv.URL + path)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post sends the code form with the given fields and extra headers.
func (b *browser) post(path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	b.f.t.Helper()
	req, err := http.NewRequest("POST", b.f.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	codeRe   = regexp.MustCompile(`id="link-code">([0-9A-Z]{4}-[0-9A-Z]{4})<`)
	tokenRe  = regexp.MustCompile(`name="token" value="([^"]+)"`)
	csrfRe   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	actionRe = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	sameSite = map[string]string{"Sec-Fetch-Site": "same-origin"}
)

// form opens the page and returns the code form's action and fields.
func (b *browser) form(conn string) (string, url.Values) {
	b.f.t.Helper()
	status, body := b.get(b.f.page(conn))
	a, tok, csrf := actionRe.FindStringSubmatch(body), tokenRe.FindStringSubmatch(body), csrfRe.FindStringSubmatch(body)
	if status != 200 || a == nil || tok == nil || csrf == nil {
		b.f.t.Fatalf("the page of %s has no code form: %d %s", conn, status, body)
	}
	return a[1], url.Values{"token": {tok[1]}, "csrf": {csrf[1]}}
}

// TestLinkPageIssuesACodeOnce: for a PendingAuth or a Deauthorized
// connection, the page (opened with its token) shows no stored code but a
// button; the post from the page issues a code, shown in its answer only,
// that links the connection.
func TestLinkPageIssuesACodeOnce(t *testing.T) {
	for _, status := range []store.ConnectionStatus{store.PendingAuth, store.Deauthorized} {
		t.Run(string(status), func(t *testing.T) {
			f := setup(t)
			f.connection("c2", status)
			b := f.browser()
			action, form := b.form("c2")
			_, page := b.get(f.page("c2"))
			if codeRe.MatchString(page) || !strings.Contains(page, "Müller &amp; &lt;Söhne&gt;") {
				t.Errorf("the page before a post: %s", page)
			}
			if !strings.Contains(page, "GnuCash may stay open while the agent syncs") {
				t.Errorf("a GnuCash connection's page does not say GnuCash may stay open: %s", page)
			}
			resp, body := b.post(action, form, sameSite)
			m := codeRe.FindStringSubmatch(body)
			if resp.StatusCode != 200 || m == nil {
				t.Fatalf("post for a code: %d %s", resp.StatusCode, body)
			}
			if !strings.Contains(body, "ferry-agent link --coordinator https://ferry.example --code "+m[1]+" --source gnucash") ||
				!strings.Contains(body, "GnuCash may stay open") {
				t.Errorf("the answer lacks the link command with the code: %s", body)
			}
			if _, again := b.get(f.page("c2")); strings.Contains(again, m[1]) {
				t.Errorf("the page shows the code again after the post")
			}
			c, err := f.st.RedeemLinkCode(t.Context(), linkcode.Hash(m[1]), "agent-9", *f.now)
			if err != nil || c.Status != store.Linked {
				t.Fatalf("redeem the issued code: %v %+v", err, c)
			}
			_, body = b.get(f.page("c2"))
			if !strings.Contains(body, "Connected.") || strings.Contains(body, `id="new-code"`) {
				t.Errorf("a linked connection's page: %s", body)
			}
		})
	}
}

// TestLinkPageRefusals: without the right token a page and a post are 404,
// as a missing connection; a post without the page's CSRF token, or from
// another site, is 403. None issues a code.
func TestLinkPageRefusals(t *testing.T) {
	f := setup(t)
	f.connection("c2", store.PendingAuth)
	b := f.browser()
	action, form := b.form("cn")
	wrong := url.Values{"token": {f.links.ConnectionToken("co", "c2")}, "csrf": form["csrf"]}
	noCSRF := url.Values{"token": form["token"]}
	// The page's CSRF token with its first character changed (to another
	// one: "x" would leave a token starting with x unchanged).
	csrf := form.Get("csrf")
	first := "x"
	if csrf[0] == 'x' {
		first = "y"
	}
	badCSRF := url.Values{"token": form["token"], "csrf": {first + csrf[1:]}}
	gets := []struct {
		name, path string
		want       int
	}{
		{"connection without a token", "/link/co/cn", 404},
		{"connection with another's token", "/link/co/cn?token=" + f.links.ConnectionToken("co", "c2"), 404},
		{"connection with its company's token", "/link/co/cn?token=" + f.links.CompanyToken("co"), 404},
		{"connection with a token cut short", f.page("cn")[:len(f.page("cn"))-1], 404},
		{"missing connection", "/link/co/nope?token=" + f.links.ConnectionToken("co", "nope"), 404},
		{"missing company", "/link/nope/cn?token=" + f.links.ConnectionToken("nope", "cn"), 404},
		{"company without a token", "/link/co", 404},
		{"company with a connection's token", "/link/co?token=" + f.links.ConnectionToken("co", "cn"), 404},
		{"connection with its token", f.page("cn"), 200},
	}
	for _, tt := range gets {
		if status, _ := b.get(tt.path); status != tt.want {
			t.Errorf("GET %s: %d, want %d", tt.name, status, tt.want)
		}
	}
	posts := []struct {
		name string
		form url.Values
		hdr  map[string]string
		want int
	}{
		{"no token", url.Values{"csrf": form["csrf"]}, sameSite, 404},
		{"another connection's token", wrong, sameSite, 404},
		{"no CSRF token", noCSRF, sameSite, 403},
		{"a wrong CSRF token", badCSRF, sameSite, 403},
		{"from another site", form, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"with another origin", form, map[string]string{"Origin": "https://evil.example"}, 403},
	}
	for _, tt := range posts {
		resp, body := b.post(action, tt.form, tt.hdr)
		if resp.StatusCode != tt.want || codeRe.MatchString(body) {
			t.Errorf("POST %s: %d, want %d and no code: %s", tt.name, resp.StatusCode, tt.want, body)
		}
	}
	// Another browser (no cookie) with the page's fields is refused too.
	if resp, _ := f.browser().post(action, form, sameSite); resp.StatusCode != 403 {
		t.Errorf("POST from a browser without the page's cookie: %d, want 403", resp.StatusCode)
	}
	if resp, body := b.post(action, form, sameSite); resp.StatusCode != 200 || !codeRe.MatchString(body) {
		t.Errorf("the page's own post after the refusals: %d, want 200 with a code", resp.StatusCode)
	}
}

// TestUnlinkedStaysUnlinked is the attack of issue 12: an unauthenticated,
// cross-site post asked the link page for a code of an Unlinked
// connection, and linking with it made the connection Linked again. Now
// that post is refused, and even the page's own post (token and CSRF) gets
// no code for an Unlinked or a Linked connection.
func TestUnlinkedStaysUnlinked(t *testing.T) {
	f := setup(t)
	f.connection("gone", store.Unlinked)
	f.connection("live", store.Linked)
	attacker := &http.Client{}
	req, _ := http.NewRequest("POST", f.srv.URL+"/link/co/gone/code", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := attacker.Do(req) // follows a redirect to the page, as a browser would
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := codeRe.FindSubmatch(body); m != nil {
		if c, err := f.st.RedeemLinkCode(t.Context(), linkcode.Hash(string(m[1])), "rogue-agent", *f.now); err == nil {
			t.Fatalf("the attacker's code linked the Unlinked connection: %+v", c)
		}
	}
	if resp.StatusCode == 200 {
		t.Errorf("the attacker's post: %d, want a refusal", resp.StatusCode)
	}

	b := f.browser()
	for _, conn := range []string{"gone", "live"} {
		status, page := b.get(f.page(conn))
		if status != 200 || strings.Contains(page, `id="new-code"`) {
			t.Errorf("the page of %s offers a code: %d %s", conn, status, page)
		}
		// The form the page would have had, had it offered one.
		form := url.Values{"token": {f.links.ConnectionToken("co", conn)}, "csrf": {"whatever"}}
		resp, body := b.post("/link/co/"+conn+"/code", form, sameSite)
		if resp.StatusCode == 200 || codeRe.MatchString(body) {
			t.Errorf("post for a code of %s: %d %s, want a refusal", conn, resp.StatusCode, body)
		}
	}
	for conn, want := range map[string]store.ConnectionStatus{"gone": store.Unlinked, "live": store.Linked} {
		c, err := f.st.Connection(t.Context(), "co", conn)
		if err != nil || c.Status != want || (conn == "gone" && !c.LinkCodeExpires.IsZero()) {
			t.Errorf("%s after the posts: %v %+v, want %s without a code", conn, err, c, want)
		}
	}
}

// TestLinkPageIssuesNoCodeAfterAnUnlinkRace: the status is checked in the
// store's transaction, so a page opened while the connection was
// PendingAuth gets no code once the client has unlinked it.
func TestLinkPageIssuesNoCodeAfterAnUnlinkRace(t *testing.T) {
	f := setup(t)
	b := f.browser()
	action, form := b.form("cn")
	if _, err := f.st.UpdateConnection(t.Context(), "co", "cn", func(c *store.Connection) error {
		c.Status = store.Unlinked
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	resp, body := b.post(action, form, sameSite)
	if resp.StatusCode != http.StatusConflict || codeRe.MatchString(body) || !strings.Contains(body, "Unlinked") {
		t.Errorf("post after the unlink: %d %s, want 409 without a code", resp.StatusCode, body)
	}
}

// TestLinkPageRateLimit: one address may post for a code codeRequests
// times in a window; then 429 with Retry-After, whatever the post holds,
// until the window passes.
func TestLinkPageRateLimit(t *testing.T) {
	f := setup(t)
	b := f.browser()
	action, form := b.form("cn")
	for i := range codeRequests {
		fields := url.Values{"token": {"wrong"}}
		if i == 0 {
			fields = form
		}
		if resp, _ := b.post(action, fields, sameSite); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("post %d of %d refused as too many", i+1, codeRequests)
		}
	}
	resp, body := b.post(action, form, sameSite)
	if resp.StatusCode != http.StatusTooManyRequests || codeRe.MatchString(body) {
		t.Fatalf("post %d: %d, want 429 without a code", codeRequests+1, resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 {
		t.Errorf("Retry-After %q, want seconds", resp.Header.Get("Retry-After"))
	}
	*f.now = f.now.Add(codeWindow)
	if resp, body := b.post(action, form, sameSite); resp.StatusCode != 200 || !codeRe.MatchString(body) {
		t.Errorf("post after the window: %d, want 200 with a code", resp.StatusCode)
	}
}

// TestCompanyLinkPage: the company's page opens with its own token and
// hands out each connection's page with its token.
func TestCompanyLinkPage(t *testing.T) {
	f := setup(t)
	b := f.browser()
	status, body := b.get("/link/co?token=" + f.links.CompanyToken("co"))
	want := `href="/link/co/cn?token=` + f.links.ConnectionToken("co", "cn") + `"`
	if status != 200 || !strings.Contains(body, want) {
		t.Fatalf("company page: %d %s, want a link %s", status, body, want)
	}
	if status, _ := b.get("/link/nope?token=" + f.links.CompanyToken("nope")); status != 404 {
		t.Errorf("missing company: %d, want 404", status)
	}
}

func TestLinkPageWithoutDownloadsSaysWhereToGetThem(t *testing.T) {
	f := setup(t)
	b := f.browser()
	_, page := b.get(f.page("cn"))
	action, form := b.form("cn")
	_, body := b.post(action, form, sameSite)
	for _, html := range []string{page, body} {
		if !strings.Contains(html, "Ask whoever sent you this link") && !strings.Contains(html, "ask whoever sent you this link") || strings.Contains(html, "/downloads/") {
			t.Errorf("page without downloads: %s", html)
		}
	}
	if status, _ := b.get("/downloads/SHA256SUMS"); status != 404 {
		t.Errorf("downloads without a directory: %d, want 404", status)
	}
}

// TestLinkPagePostsToAnotherReplica: the page served by one coordinator
// posts to another on the same store (its CSRF key derives from the
// store's secret, not the process), which issues the code.
func TestLinkPagePostsToAnotherReplica(t *testing.T) {
	f := setup(t)
	other := New(f.st, slog.New(slog.DiscardHandler), linkcode.NewLinks("https://ferry.example", bytes.Repeat([]byte{7}, 32)), 7*24*time.Hour)
	other.Now = func() time.Time { return *f.now }
	srv := httptest.NewServer(other)
	defer srv.Close()
	b := f.browser()
	action, form := b.form("cn")
	f.srv = srv // the browser's next request lands on the other replica
	resp, body := b.post(action, form, sameSite)
	if resp.StatusCode != 200 || !codeRe.MatchString(body) {
		t.Fatalf("the post on another replica: %d %s", resp.StatusCode, body)
	}
}
