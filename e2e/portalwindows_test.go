package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// portalTab is a headless chromium tab on the Portal with helpers that
// fail the test.
type portalTab struct {
	t   *testing.T
	tab context.Context
	c   *coordinator
}

func (p *portalTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.tab, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// until waits for the JavaScript expression js to be true: a button posts,
// and the page that comes back replaces the one clicked.
func (p *portalTab) until(what, js string) {
	p.t.Helper()
	waitFor(p.t, 30*time.Second, what, func() bool {
		ok, err := chromedp.Run(p.tab, chromedp.Evaluate[bool](js)) // an error while the page loads: ask again
		return err == nil && ok
	})
}

// untilText waits for the element's text to be want, on a page loaded
// whole (a node of a page still loading may be gone by the next action).
func (p *portalTab) untilText(what, sel, want string) {
	p.t.Helper()
	p.until(what+": "+sel+" showing "+want,
		fmt.Sprintf(`(e => document.readyState === "complete" && e !== null && e.textContent.trim() === %q)(document.querySelector(%q))`, want, sel))
}

// signIn signs the tab in with key and waits for the signed-in page.
func (p *portalTab) signIn(key string) {
	p.t.Helper()
	p.do("sign in",
		chromedp.Navigate(p.c.url()+"/portal/signin"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), key),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		// Signed in: a client key lands on the companies, a support key on
		// the fleet; both pages offer to sign out.
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
	)
}

// span fills in row i of the editor under scope (days ticked, start, end).
func span(scope string, i int, days []string, start, end string) []chromedp.Action[chromedp.Void] {
	var out []chromedp.Action[chromedp.Void]
	for _, d := range days {
		out = append(out, chromedp.Click(chromedp.CSS(fmt.Sprintf(`%s input[name=days-%d][value=%s]`, scope, i, d))))
	}
	return append(out,
		chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`%s input[name=start-%d]`, scope, i)), start),
		chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`%s input[name=end-%d]`, scope, i)), end))
}

// edit opens the editor under scope, runs the steps and saves.
func (p *portalTab) edit(what, scope string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	all := []chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.CSS(scope + " details.window-edit summary")),
		chromedp.WaitVisible(chromedp.CSS(scope + " input[name=timeZone]")),
	}
	all = append(all, steps...)
	p.do(what, append(all, chromedp.Click(chromedp.CSS(scope+" button.set-window")))...)
}

// windowSpans reads a window through the API: where it applies from and
// how many spans it has.
func windowSpans(t *testing.T, c *coordinator, path string) (string, int) {
	t.Helper()
	var w struct {
		AppliesFrom string
		Windows     []struct{ Days []string }
	}
	if s := c.do("GET", path, nil, &w); s != 200 {
		t.Fatalf("GET %s: %d", path, s)
	}
	return w.AppliesFrom, len(w.Windows)
}

// TestPortalWindowLevels drives the Portal's window editors in a real
// (headless) chromium at the three levels: a company's window set, given
// a second span and losing its first; a connection's own of two spans
// from the company's, one crossing midnight; the client's default on its page; the API sees
// each. The editor's form pointed at another company's connection is
// refused (404) and changes nothing; a support key sees the windows
// without editors, and its post is refused (403).
func TestPortalWindowLevels(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, conn, _ := setupConnection(t, c, "csv")
	other, otherConn, _ := setupConnection(t, c, "csv")
	var support struct{ APIKey string }
	if s := c.do("POST", "/apiKeys", map[string]any{"name": "support desk", "scope": "support"}, &support); s != 201 {
		t.Fatalf("create a support key: %d", s)
	}
	p := &portalTab{t: t, tab: browserTab(t, 3*time.Minute), c: c}
	p.signIn(e2eKey)
	page := c.url() + "/portal/companies/" + company
	p.do("open the company", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("company-window")))

	const co = "#company-window"
	p.edit("the company's window", co, append([]chromedp.Action[chromedp.Void]{
		chromedp.SetValue(chromedp.CSS(co+` input[name=timeZone]`), "Europe/London")},
		span(co, 0, []string{"Mon", "Wed"}, "19:00", "07:00")...)...)
	p.untilText("the company's window", co+" .window-summary", "Mon, Wed 19:00–07:00 (Europe/London)")
	if from, n := windowSpans(t, c, "/companies/"+company+"/syncWindow"); from != "company" || n != 1 {
		t.Errorf("after the company's Save the API says %s, %d spans", from, n)
	}
	p.edit("a second span", co, span(co, 1, []string{"Sat"}, "10:00", "12:00")...)
	p.untilText("a second span", co+" .window-summary", "Mon, Wed 19:00–07:00; Sat 10:00–12:00 (Europe/London)")
	p.untilText("the connection follows its company", "#conn-"+conn+" .window-source", "(company)")
	if from, n := windowSpans(t, c, "/companies/"+company+"/connections/"+conn+"/syncWindow"); from != "company" || n != 2 {
		t.Errorf("the connection's window after the company's second span: %s, %d spans", from, n)
	}
	p.edit("remove the first span", co, chromedp.Click(chromedp.CSS(co+` input[name=remove-0]`)))
	p.untilText("remove the first span", co+" .window-summary", "Sat 10:00–12:00 (Europe/London)")
	if _, n := windowSpans(t, c, "/companies/"+company+"/syncWindow"); n != 1 {
		t.Errorf("after Remove the API has %d spans, want 1", n)
	}

	// The connection's editor starts from the window in force, its
	// company's: its span moved, and one crossing midnight added.
	row := "#conn-" + conn
	p.edit("the connection's two spans", row, append(span(row, 0, nil, "09:00", "12:00"),
		span(row, 1, []string{"Sun"}, "22:00", "02:00")...)...)
	p.untilText("the connection's two spans", row+" .window-summary", "Sat 09:00–12:00; Sun 22:00–02:00 (Europe/London)")
	if from, n := windowSpans(t, c, "/companies/"+company+"/connections/"+conn+"/syncWindow"); from != "connection" || n != 2 {
		t.Errorf("after the connection's Save the API says %s, %d spans", from, n)
	}
	screenshot(t, p.tab, "portal-window-levels.png")

	// The connection's editor pointed at another company's connection.
	p.do("post to another company's connection",
		chromedp.SetAttributeValue(chromedp.CSS(row+" form.window-form"), "action", "/portal/companies/"+company+"/connections/"+otherConn+"/syncWindow"),
		chromedp.Click(chromedp.CSS(row+" details.window-edit summary")),
		chromedp.Click(chromedp.CSS(row+" button.any-time")),
	)
	p.untilText("another company's connection refused", "#error", "There is no such connection.")
	if from, _ := windowSpans(t, c, "/companies/"+other+"/connections/"+otherConn+"/syncWindow"); from == "connection" {
		t.Error("the refused post set the other connection's window")
	}

	p.do("open the client's window", chromedp.Navigate(c.url()+"/portal/syncWindow"), chromedp.WaitVisible(chromedp.ID("client-window")))
	const client = "#client-window"
	p.edit("the client's window", client, append([]chromedp.Action[chromedp.Void]{
		chromedp.SetValue(chromedp.CSS(client+` input[name=timeZone]`), "UTC")},
		span(client, 0, []string{"Fri"}, "18:00", "23:00")...)...)
	p.untilText("the client's window", client+" .window-summary", "Fri 18:00–23:00 (UTC)")
	if from, n := windowSpans(t, c, "/profile/syncWindow"); from != "client" || n != 1 {
		t.Errorf("after the client's Save the API says %s, %d spans", from, n)
	}

	// A support key: the windows, no editor, and a post refused.
	p.do("sign out", chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.ID("key")))
	p.signIn(support.APIKey)
	p.do("support opens the company", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("company-window")))
	p.untilText("support sees the company's window", co+" .window-summary", "Sat 10:00–12:00 (Europe/London)")
	if n, err := chromedp.Run(p.tab, chromedp.Evaluate[int](`document.querySelectorAll("details.window-edit, button.pause").length`)); err != nil || n != 0 {
		t.Errorf("support's company page has %d editors or pause buttons (%v), want none", n, err)
	}
	status, err := chromedp.Run(p.tab, chromedp.Evaluate[int](fmt.Sprintf(
		`fetch(%q, {method: "POST", credentials: "include", redirect: "manual", body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value, action: "any"})}).then(r => r.status)`,
		"/portal/companies/"+company+"/syncWindow"), chromedp.EvalAwaitPromise))
	if err != nil || status != http.StatusForbidden {
		t.Errorf("support's post of the company's window: %d, %v; want 403", status, err)
	}
	if _, n := windowSpans(t, c, "/companies/"+company+"/syncWindow"); n != 1 {
		t.Errorf("support's refused post changed the company's window: %d spans", n)
	}
}
