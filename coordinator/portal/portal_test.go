package portal

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestSignInSetsASessionCookie(t *testing.T) {
	for _, tc := range []struct {
		publicURL  string
		wantSecure bool
	}{{"http://127.0.0.1:8080", false}, {"https://ferry.example", true}} {
		e := newEnv(t, tc.publicURL)
		b := e.browser()
		resp, body := b.signIn("not-a-key")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "That API key is not valid.") {
			t.Errorf("wrong key: %d, want 401 with a message", resp.StatusCode)
		}
		if c := cookieNamed(resp, sessionCookie); c != nil {
			t.Errorf("wrong key got a session cookie: %v", c)
		}
		resp, _ = b.signIn(clientKey)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/companies" {
			t.Fatalf("sign in: %d %q, want 303 to /portal/companies", resp.StatusCode, resp.Header.Get("Location"))
		}
		c := cookieNamed(resp, sessionCookie)
		if c == nil {
			t.Fatal("no session cookie")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/portal" || c.Secure != tc.wantSecure || len(c.Value) < 40 {
			t.Errorf("%s: cookie %+v, want HttpOnly, SameSite=Lax, Path=/portal, Secure=%v, a long random value",
				tc.publicURL, c, tc.wantSecure)
		}
		if strings.Contains(c.Value, clientKey) {
			t.Error("the cookie holds the API key")
		}
		resp, body = b.get("/portal/companies")
		if resp.StatusCode != 200 || !strings.Contains(body, "Acme Ltd") || !strings.Contains(body, "client key (client)") {
			t.Errorf("companies after sign-in: %d\n%s", resp.StatusCode, body)
		}
	}
}

func TestSignedOutBrowsersGoToSignIn(t *testing.T) {
	e := newEnv(t, "")
	b := e.browser()
	for _, p := range []string{"/portal/", "/portal/companies", "/portal/companies/co", "/portal/companies/co/datasets/x"} {
		resp, _ := b.get(p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/signin" {
			t.Errorf("%s signed out: %d %q, want 303 to /portal/signin", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	b.c.Jar.SetCookies(must(url.Parse(e.srv.URL+"/portal/")), []*http.Cookie{{Name: sessionCookie, Value: "made-up"}})
	if resp, _ := b.get("/portal/companies"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a made-up session id: %d, want 303", resp.StatusCode)
	}
	if resp, _ := b.get("/portal/companies/co/live"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("live stream signed out: %d, want 401", resp.StatusCode)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	cookies := b.c.Jar.Cookies(must(url.Parse(e.srv.URL + "/portal/")))
	resp, _ := b.post("/portal/signout", url.Values{"csrf": {b.token()}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/signin" {
		t.Fatalf("sign out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := cookieNamed(resp, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("sign out does not clear the cookie: %+v", c)
	}
	// The old cookie, replayed, opens nothing.
	replay := e.browser()
	replay.c.Jar.SetCookies(must(url.Parse(e.srv.URL+"/portal/")), cookies)
	if resp, _ := replay.get("/portal/companies"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed cookie after sign-out: %d, want 303 to sign-in", resp.StatusCode)
	}
	for _, c := range cookies {
		if c.Name != sessionCookie {
			continue
		}
		id := sha256.Sum256([]byte(c.Value))
		if _, err := e.st.Session(t.Context(), id[:]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the session in the store after sign-out: %v, want ErrNotFound", err)
		}
	}
}

func TestDeletedKeyEndsItsSessions(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(supportKey)
	keys, _ := e.st.APIKeys(t.Context())
	for _, k := range keys {
		if k.Scope == store.ScopeSupport {
			if err := e.st.DeleteAPIKey(t.Context(), k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if resp, _ := b.get("/portal/companies"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session of a deleted key: %d, want 303 to sign-in", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, "")
	now := time.Now()
	e.h.now = func() time.Time { return now }
	b := e.signedIn(clientKey)
	now = now.Add(2*time.Hour + time.Second)
	if resp, _ := b.get("/portal/companies"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session idle past 2h: %d, want 303 to sign-in", resp.StatusCode)
	}
}

func TestForgedPostsAreRefused(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	other := e.signedIn(clientKey)
	good := b.token()
	queue := "/portal/companies/co/queue/invoices"
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"no token", url.Values{}, nil},
		{"empty token", url.Values{"csrf": {""}}, nil},
		{"wrong token", url.Values{"csrf": {strings.Repeat("A", len(good))}}, nil},
		{"another session's token", url.Values{"csrf": {other.token()}}, nil},
		{"cross-site", url.Values{"csrf": {good}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"other origin", url.Values{"csrf": {good}}, []string{"Origin", "https://evil.example"}},
	} {
		for _, path := range []string{queue, "/portal/companies/co/queue", "/portal/signout"} {
			resp, body := b.post(path, tc.form, tc.headers...)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not come from the Portal") {
				t.Errorf("%s to %s: %d, want 403", tc.name, path, resp.StatusCode)
			}
		}
	}
	if ds, _ := e.st.Datasets(t.Context(), "co"); len(ds) != 0 {
		t.Fatalf("forged posts queued %d datasets", len(ds))
	}
	if resp, _ := b.get("/portal/companies"); resp.StatusCode != 200 {
		t.Fatalf("a forged sign-out ended the session: %d", resp.StatusCode)
	}
	// The same post with the session's own token works.
	if resp, _ := b.post(queue, url.Values{"csrf": {good}}, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("genuine post: %d, want 303", resp.StatusCode)
	}
	if ds, _ := e.st.Datasets(t.Context(), "co"); len(ds) != 1 {
		t.Fatalf("genuine post queued %d datasets, want 1", len(ds))
	}
}

func TestForgedSignInIsRefused(t *testing.T) {
	e := newEnv(t, "")
	b := e.browser()
	_, page := b.get("/portal/signin")
	good := csrfOf(t, page)
	// The good token with its first character changed (to another one:
	// "x" + good[1:] was the good token itself one time in 64).
	wrong := "x" + good[1:]
	if good[0] == 'x' {
		wrong = "y" + good[1:]
	}
	stranger := e.browser() // has no sign-in cookie
	for name, tc := range map[string]struct {
		b    *browser
		form url.Values
	}{
		"no token":          {b, url.Values{"key": {clientKey}}},
		"wrong token":       {b, url.Values{"key": {clientKey}, "csrf": {wrong}}},
		"token, no cookie":  {stranger, url.Values{"key": {clientKey}, "csrf": {good}}},
		"token, other site": {b, url.Values{"key": {clientKey}, "csrf": {good}}},
	} {
		var headers []string
		if name == "token, other site" {
			headers = []string{"Sec-Fetch-Site", "cross-site"}
		}
		resp, _ := tc.b.post("/portal/signin", tc.form, headers...)
		if resp.StatusCode != http.StatusForbidden || cookieNamed(resp, sessionCookie) != nil {
			t.Errorf("%s: %d, want 403 and no session", name, resp.StatusCode)
		}
	}
	if resp, _ := b.post("/portal/signin", url.Values{"key": {clientKey}, "csrf": {good}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("genuine sign-in: %d, want 303", resp.StatusCode)
	}
}

func TestQueueButtons(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	_, page := b.get("/portal/companies/co")
	for _, want := range []string{`action="/portal/companies/co/queue/invoices"`, `id="queue-all"`, `class="new-link-code"`, "/link/co/cn?token=", "Never synced"} {
		if !strings.Contains(page, want) {
			t.Errorf("company page lacks %q", want)
		}
	}
	tok := csrfOf(t, page)
	resp, _ := b.post("/portal/companies/co/queue/invoices", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/companies/co" {
		t.Fatalf("queue: %d %q, want 303 back to the company", resp.StatusCode, resp.Header.Get("Location"))
	}
	ds, _ := e.st.Datasets(t.Context(), "co")
	if len(ds) != 1 || ds[0].DataType != dataset.DataType("invoices") || ds[0].Status != dataset.Queued ||
		ds[0].Timeline[0].Message != "queued in the Portal" {
		t.Fatalf("datasets after the button: %+v", ds)
	}
	_, page = b.get("/portal/companies/co")
	if !strings.Contains(page, "invoices queued.") || !strings.Contains(page, `data-dataset="`+ds[0].ID+`"`) {
		t.Errorf("company page after queueing lacks the message or the dataset:\n%s", page)
	}
	if !strings.Contains(page, `disabled title="a sync of this type is in progress"`) {
		t.Error("the in-progress type's button is not disabled")
	}
	// Again: the API's 409 rule, told on the page; nothing new queued.
	b.post("/portal/companies/co/queue/invoices", url.Values{"csrf": {tok}})
	_, page = b.get("/portal/companies/co")
	if !strings.Contains(page, "Already in progress: dataset "+ds[0].ID+" is Queued.") {
		t.Errorf("second queue: no in-progress message")
	}
	if ds, _ := e.st.Datasets(t.Context(), "co"); len(ds) != 1 {
		t.Errorf("second queue made %d datasets, want 1", len(ds))
	}
	// Queue all queues every other type.
	b.post("/portal/companies/co/queue", url.Values{"csrf": {tok}})
	if ds, _ := e.st.Datasets(t.Context(), "co"); len(ds) != len(dataset.DataTypes) {
		t.Errorf("queue all: %d datasets, want %d", len(ds), len(dataset.DataTypes))
	}
	_, page = b.get("/portal/companies/co")
	if want := fmt.Sprintf("%d data types queued.", len(dataset.DataTypes)-1); !strings.Contains(page, want) {
		t.Errorf("queue all: page lacks %q", want)
	}
	for path, want := range map[string]int{
		"/portal/companies/co/queue/nonsense": 404,
		"/portal/companies/nope/queue/bills":  404,
		"/portal/companies/nope/queue":        404,
	} {
		if resp, _ := b.post(path, url.Values{"csrf": {tok}}); resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestSupportKeyCannotQueue(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(supportKey)
	_, page := b.get("/portal/companies/co")
	if strings.Contains(page, "Queue sync") || strings.Contains(page, "queue-all") {
		t.Error("a support session sees queue buttons")
	}
	for _, p := range []string{"/portal/companies/co/queue/invoices", "/portal/companies/co/queue"} {
		if resp, _ := b.post(p, url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("support %s: %d, want 403", p, resp.StatusCode)
		}
	}
	if ds, _ := e.st.Datasets(t.Context(), "co"); len(ds) != 0 {
		t.Errorf("a support key queued %d datasets", len(ds))
	}
}

func TestUntrustedTextIsEscaped(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	evil := `<script>alert("x")</script>`
	if _, err := e.st.UpdateCompany(ctx, "co", func(c *store.Company) error {
		c.Name, c.Description = evil, `<img src=x onerror=alert(1)>`
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ds, err := e.q.Queue(ctx, "co", "invoices", "", "queued by a test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Report(ctx, store.Report{CompanyID: "co", DatasetID: ds.ID, Actor: store.ActorCoordinator,
		To: dataset.InternalError, Message: `<b onmouseover=alert(2)>boom</b>`, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetValidation(ctx, "co", ds.ID, store.ValidationResult{Errors: []store.ValidationItem{
		{RuleID: "r1", ItemID: `<i>INV-1</i>`, Message: `<script>bad()</script>`, ValidatorName: "v"},
	}}); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(clientKey)
	for _, p := range []string{"/portal/companies", "/portal/companies/co", "/portal/companies/co/datasets/" + ds.ID} {
		resp, body := b.get(p)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<b onmouseover", "<script>bad", "<i>INV-1"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s holds unescaped %q", p, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s does not show the company name escaped", p)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	// The live stream's HTML comes from the same templates.
	live, cancel := context.WithCancel(ctx)
	defer cancel()
	frag := b.live(live, "co").until("the first status", func(string) bool { return true })
	if strings.Contains(frag, "<b onmouseover") || !strings.Contains(frag, "&lt;b onmouseover=alert(2)&gt;boom&lt;/b&gt;") {
		t.Errorf("live fragment does not escape the error message:\n%s", frag)
	}
}

func TestTwoSignInTabs(t *testing.T) {
	e := newEnv(t, "")
	b := e.browser()
	_, first := b.get("/portal/signin")
	_, second := b.get("/portal/signin")
	resp, _ := b.post("/portal/signin", url.Values{"csrf": {csrfOf(t, first)}, "key": {clientKey}})
	if resp.StatusCode != http.StatusSeeOther || csrfOf(t, first) != csrfOf(t, second) {
		t.Errorf("signing in from the first of two sign-in tabs: %d, want 303", resp.StatusCode)
	}
}

func TestDatasetPageShowsTimelineAndValidation(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	ds, err := e.q.Queue(ctx, "co", "invoices", "", "queued by a test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Report(ctx, store.Report{CompanyID: "co", DatasetID: ds.ID, Actor: store.ActorCoordinator,
		To: dataset.InternalError, Message: "disk on fire", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetValidation(ctx, "co", ds.ID, store.ValidationResult{
		Errors:   []store.ValidationItem{{RuleID: "invoices.totals", ItemID: "INV-7", Message: "lines add up to 10.00, total 11.00", ValidatorName: "totals"}},
		Warnings: []store.ValidationItem{{RuleID: "ref.customer", ItemID: "INV-8", Message: "customers never synced", ValidatorName: "refs"}},
	}); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(supportKey)
	resp, body := b.get("/portal/companies/co/datasets/" + ds.ID)
	if resp.StatusCode != 200 {
		t.Fatalf("dataset page: %d", resp.StatusCode)
	}
	for _, want := range []string{"queued by a test", "disk on fire", "InternalError", "coordinator",
		`id="validation-errors"`, "INV-7", "lines add up to 10.00, total 11.00",
		`id="validation-warnings"`, "ref.customer", "customers never synced"} {
		if !strings.Contains(body, want) {
			t.Errorf("dataset page lacks %q", want)
		}
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	for _, p := range []string{"/portal/companies/nope", "/portal/companies/co/datasets/nope",
		"/portal/companies/nope/datasets/x", "/portal/nothing-here", "/portal/companies/nope/live"} {
		if resp, body := b.get(p); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `id="error"`) {
			t.Errorf("%s: %d, want a 404 page", p, resp.StatusCode)
		}
	}
}

func TestAssetsAreEmbedded(t *testing.T) {
	e := newEnv(t, "")
	b := e.browser()
	for p, want := range map[string]string{"/portal/static/portal.js": "EventSource", "/portal/static/portal.css": "--ok"} {
		if resp, body := b.get(p); resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := b.get("/portal/static/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing asset: %d", resp.StatusCode)
	}
}

// TestNewLinkCode: the company page shows no link code (only its hash is
// stored) but, to a client key, the link page and a "New link code"
// button, whose answer shows a fresh code once; the code links. A support
// key sees neither the button nor the link page's token, and its post is
// 403.
func TestNewLinkCode(t *testing.T) {
	e := newEnv(t, "https://ferry.example")
	token := e.h.links.ConnectionToken("co", "cn")
	b := e.signedIn(clientKey)
	_, page := b.get("/portal/companies/co")
	if !strings.Contains(page, `class="new-link-code"`) || !strings.Contains(page, `href="https://ferry.example/link/co/cn?token=`+token+`"`) ||
		codeRe.MatchString(page) {
		t.Fatalf("client's company page: want the button and the link page, no code:\n%s", page)
	}
	resp, answer := b.post("/portal/companies/co/connections/cn/linkCode", url.Values{"csrf": {csrfOf(t, page)}})
	m := codeRe.FindStringSubmatch(answer)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("New link code: %d, want 200 with the code:\n%s", resp.StatusCode, answer)
	}
	if _, again := b.get("/portal/companies/co"); strings.Contains(again, m[1]) {
		t.Error("the company page shows the issued code")
	}
	if _, err := e.st.RedeemLinkCode(t.Context(), linkcode.Hash(m[1]), "agent-1", time.Now()); err != nil {
		t.Fatalf("redeem the Portal's code: %v", err)
	}
	_, page = b.get("/portal/companies/co")
	if strings.Contains(page, `class="new-link-code"`) {
		t.Error("a Linked connection offers a new link code")
	}
	resp, _ = b.post("/portal/companies/co/connections/cn/linkCode", url.Values{"csrf": {csrfOf(t, page)}})
	if _, page = b.get("/portal/companies/co"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(page, "the connection is Linked") {
		t.Errorf("New link code of a Linked connection: %d, want 303 and a message", resp.StatusCode)
	}

	sup := e.signedIn(supportKey)
	_, page = sup.get("/portal/companies/co")
	if strings.Contains(page, `class="new-link-code"`) || strings.Contains(page, token) || strings.Contains(page, "token=") {
		t.Errorf("support's company page has the button or a link token:\n%s", page)
	}
	if resp, body := sup.post("/portal/companies/co/connections/cn/linkCode", url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != 403 || codeRe.MatchString(body) {
		t.Errorf("support's New link code: %d, want 403 without a code", resp.StatusCode)
	}
	if resp, _ := b.post("/portal/companies/co/connections/cn/linkCode", url.Values{"csrf": {"forged"}}); resp.StatusCode != 403 {
		t.Errorf("New link code without the session's token: %d, want 403", resp.StatusCode)
	}
}

var codeRe = regexp.MustCompile(`id="link-code">([0-9A-Z]{4}-[0-9A-Z]{4})<`)

func TestQueueOnOneOfSeveralConnections(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	conn := store.Connection{ID: "cn2", CompanyID: "co", PlatformKey: "csv", Status: store.PendingAuth, Created: time.Now()}
	if err := e.st.CreateConnection(ctx, conn, store.LinkCode{Hash: []byte("h2"), CompanyID: "co", ConnectionID: "cn2", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(clientKey)
	_, page := b.get("/portal/companies/co")
	if !strings.Contains(page, `<option value="cn2">CSV files (PendingAuth, cn2)</option>`) {
		t.Fatalf("no connection choice on the page:\n%s", page)
	}
	tok := csrfOf(t, page)
	b.post("/portal/companies/co/queue/bills", url.Values{"csrf": {tok}})
	if _, page = b.get("/portal/companies/co"); !strings.Contains(page, "several data connections") {
		t.Error("queueing without a connection among several: no message")
	}
	b.post("/portal/companies/co/queue/bills", url.Values{"csrf": {tok}, "connectionId": {"cn2"}})
	ds, _ := e.st.Datasets(ctx, "co")
	if len(ds) != 1 || ds[0].ConnectionID != "cn2" {
		t.Fatalf("datasets: %+v, want one bills on cn2", ds)
	}
	if resp, _ := b.post("/portal/companies/co/queue/bills", url.Values{"csrf": {tok}, "connectionId": {"nope"}}); resp.StatusCode != 404 {
		t.Errorf("unknown connection: %d, want 404", resp.StatusCode)
	}
}

func TestPublicURLIsTheSameOrigin(t *testing.T) {
	e := newEnv(t, "https://ferry.example")
	b := e.signedIn(clientKey)
	tok := b.token()
	// Behind a proxy: the browser's Origin is the public URL, not the Host
	// the coordinator sees.
	resp, _ := b.post("/portal/companies/co/queue/bills", url.Values{"csrf": {tok}}, "Origin", "https://ferry.example")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("post from the public URL's origin: %d, want 303", resp.StatusCode)
	}
	resp, _ = b.post("/portal/companies/co/queue/invoices", url.Values{"csrf": {tok}}, "Origin", "https://ferry.example.evil")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("post from another origin: %d, want 403", resp.StatusCode)
	}
}

func TestWrongKeysAreLimitedPerAddress(t *testing.T) {
	e := newEnv(t, "")
	now := time.Now()
	e.h.now = func() time.Time { return now }
	b := e.browser()
	for i := range 20 {
		if resp, _ := b.signIn(fmt.Sprintf("guess-%d", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		}
	}
	resp, body := b.signIn(clientKey)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong keys") {
		t.Fatalf("after 20 wrong keys: %d, want 429", resp.StatusCode)
	}
	now = now.Add(10 * time.Minute)
	if resp, _ := b.signIn(clientKey); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("ten minutes later: %d, want 303", resp.StatusCode)
	}
}
