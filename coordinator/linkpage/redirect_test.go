package linkpage

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
)

var continueRe = regexp.MustCompile(`<p id="continue"><a href="([^"]+)">`)

// setProfile stores the client's redirect URL and white list.
func (f *fixture) setProfile(redirect string, whiteList ...string) {
	f.t.Helper()
	_, err := f.st.UpdateProfile(f.t.Context(), func(p *store.Profile) error {
		p.RedirectURL, p.WhiteListURLs = redirect, whiteList
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// noFollow gets path without following a redirect.
func (f *fixture) noFollow(path string) *http.Response {
	f.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestLinkPageRedirectsOnceLinked: the end user who gets a code, links the
// agent with it and goes on from the page is sent to the client's
// redirect URL with the company's id filled in, only once the connection
// is Linked and only to a white-listed origin; otherwise the page says
// linking is done.
func TestLinkPageRedirectsOnceLinked(t *testing.T) {
	f := setup(t)
	f.setProfile("https://app.example.com/linked/{companyId}?step=done", "https://other.example.com", "https://app.example.com/anything")
	b := f.browser()
	action, form := b.form("cn")
	resp, body := b.post(action, form, sameSite)
	code, next := codeRe.FindStringSubmatch(body), continueRe.FindStringSubmatch(body)
	if resp.StatusCode != 200 || code == nil || next == nil {
		t.Fatalf("the code page has no code or no way on: %d %s", resp.StatusCode, body)
	}
	again := html.UnescapeString(next[1])
	if again != f.page("cn") {
		t.Errorf("the code page's way on is %q, want the page %q", again, f.page("cn"))
	}
	// Not linked yet: the page stays (the redirect would end the flow).
	if r := f.noFollow(again); r.StatusCode != 200 {
		t.Errorf("before the agent links, the page answers %d, want 200", r.StatusCode)
	}
	if _, err := f.st.RedeemLinkCode(t.Context(), linkcode.Hash(code[1]), "agent-1", *f.now); err != nil {
		t.Fatal(err)
	}
	r := f.noFollow(again)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "https://app.example.com/linked/co?step=done" {
		t.Errorf("once linked: %d to %q, want 303 to the redirect URL with the company's id", r.StatusCode, r.Header.Get("Location"))
	}
	if r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("the redirect would send the page's token on as a Referer: Referrer-Policy %q", r.Header.Get("Referrer-Policy"))
	}
	if r := f.noFollow("/link/co/cn?token=wrong"); r.StatusCode != 404 {
		t.Errorf("a wrong token, redirect set: %d, want 404", r.StatusCode)
	}
}

// TestLinkPageSaysDoneWithoutRedirect: a Linked connection's page says
// linking is done when no redirect URL is set, or when its origin is not
// on the white list.
func TestLinkPageSaysDoneWithoutRedirect(t *testing.T) {
	tests := []struct {
		name, redirect string
		whiteList      []string
	}{
		{"none set", "", nil},
		{"origin not listed", "https://app.example.com/linked/{companyId}", []string{"https://other.example.com"}},
		{"other scheme listed", "https://app.example.com/linked", []string{"http://app.example.com"}},
		{"other port listed", "https://app.example.com/linked", []string{"https://app.example.com:8443"}},
		{"no white list", "https://app.example.com/linked", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			f.connection("c2", store.Linked)
			f.setProfile(tt.redirect, tt.whiteList...)
			r := f.noFollow(f.page("c2"))
			_, body := f.browser().get(f.page("c2"))
			if r.StatusCode != 200 || !strings.Contains(body, "Connected.") || !strings.Contains(body, "Nothing more to do") {
				t.Errorf("%d, page %s; want 200 and that linking is done", r.StatusCode, body)
			}
		})
	}
}
