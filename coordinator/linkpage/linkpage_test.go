package linkpage

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func setup(t *testing.T) (*httptest.Server, store.Store, *time.Time) {
	t.Helper()
	st, err := store.OpenBadger(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	h := New(st, slog.New(slog.DiscardHandler), "https://ferry.example", 7*24*time.Hour)
	h.Now = func() time.Time { return now }
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); st.Close() })
	ctx := t.Context()
	if err := st.CreateCompany(ctx, store.Company{ID: "co", Name: "Müller & <Söhne>", Created: now}); err != nil {
		t.Fatal(err)
	}
	code, hash := linkcode.New()
	c := store.Connection{ID: "cn", CompanyID: "co", PlatformKey: "gnucash", Status: store.PendingAuth, Created: now, LinkCode: code, LinkCodeExpires: now.Add(time.Hour)}
	if err := st.CreateConnection(ctx, c, store.LinkCode{Hash: hash, CompanyID: "co", ConnectionID: "cn", Expires: c.LinkCodeExpires}); err != nil {
		t.Fatal(err)
	}
	return srv, st, &now
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var codeRe = regexp.MustCompile(`id="link-code">([0-9A-Z]{4}-[0-9A-Z]{4})<`)

func TestLinkPageShowsCodeAndCommand(t *testing.T) {
	srv, st, _ := setup(t)
	conn, _ := st.Connection(t.Context(), "co", "cn")
	status, body := get(t, srv.URL+"/link/co/cn")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	m := codeRe.FindStringSubmatch(body)
	if m == nil || m[1] != conn.LinkCode {
		t.Fatalf("page does not show the code %s", conn.LinkCode)
	}
	for _, want := range []string{"ferry-agent link --coordinator https://ferry.example --code " + conn.LinkCode + " --source gnucash", "Müller &amp; &lt;Söhne&gt;", "ferry-agent.exe"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if status, body := get(t, srv.URL+"/link/co"); status != 200 || !strings.Contains(body, `href="/link/co/cn"`) {
		t.Errorf("company page: %d %s", status, body)
	}
	for _, p := range []string{"/link/co/nope", "/link/nope/cn", "/link/nope"} {
		if status, _ := get(t, srv.URL+p); status != 404 {
			t.Errorf("%s: %d, want 404", p, status)
		}
	}
}

func TestExpiredCodeGetsANewOne(t *testing.T) {
	srv, st, now := setup(t)
	old, _ := st.Connection(t.Context(), "co", "cn")
	*now = now.Add(2 * time.Hour)
	_, body := get(t, srv.URL+"/link/co/cn")
	if codeRe.MatchString(body) || !strings.Contains(body, "expired") {
		t.Fatalf("an expired code is still shown: %s", body)
	}
	resp, err := http.Post(srv.URL+"/link/co/cn/code", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := codeRe.FindStringSubmatch(string(b))
	if m == nil || m[1] == old.LinkCode {
		t.Fatalf("after asking for a new code: %s", b)
	}
	// The new code links; the old one is gone.
	if _, err := st.RedeemLinkCode(t.Context(), linkcode.Hash(old.LinkCode), "agent", *now); err == nil {
		t.Error("the old code still links")
	}
	c, err := st.RedeemLinkCode(t.Context(), linkcode.Hash(m[1]), "agent", *now)
	if err != nil || c.Status != store.Linked {
		t.Fatalf("the new code: %v %+v", err, c)
	}
	_, body = get(t, srv.URL+"/link/co/cn")
	if !strings.Contains(body, "Connected.") || codeRe.MatchString(body) {
		t.Errorf("a linked connection's page: %s", body)
	}
}
