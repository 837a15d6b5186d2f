package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// connError is a dataConnectionError as the API and the webhooks show it.
type connError struct {
	StatusCode, StatusText, ErrorMessage, ErroredOnUtc, Status, ResolvedOnUtc string
}

// connErrors reads a connection's dataConnectionErrors.
func connErrors(t *testing.T, c *coordinator, company, conn string) []connError {
	t.Helper()
	var cn struct{ DataConnectionErrors []connError }
	if s := c.do("GET", "/companies/"+company+"/connections/"+conn, nil, &cn); s != 200 {
		t.Fatalf("get connection: %d", s)
	}
	return cn.DataConnectionErrors
}

// hasError reports whether errs has one of kind in status.
func hasError(errs []connError, kind, status string) (connError, bool) {
	for _, e := range errs {
		if e.StatusText == kind && e.Status == status {
			return e, true
		}
	}
	return connError{}, false
}

// hookEvents are the receiver's deliveries of typ, with the error each
// names.
func hookEvents(r *hookReceiver, typ string) []connError {
	var out []connError
	for _, d := range r.deliveries() {
		if d.env.EventType != typ {
			continue
		}
		var p struct{ Error connError }
		_ = json.Unmarshal(d.env.Payload, &p)
		out = append(out, p.Error)
	}
	return out
}

// TestAgentOfflineRaisesAndResolves runs the real binaries with a short
// --agent-offline-after: a killed agent is reported offline once the
// threshold has passed since it was last seen (the AgentOffline error and
// agent.offline, connection.error.raised), not before; started again, the
// error is Resolved and agent.online and connection.error.resolved
// follow.
func TestAgentOfflineRaisesAndResolves(t *testing.T) {
	parallel(t)
	const after = 3 * time.Second
	rcv := newHookReceiver(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--webhook-allow-private", "--agent-offline-after", after.String())
	body := map[string]any{"url": rcv.URL + "/ferry", "eventTypes": []string{
		"agent.offline", "agent.online", "connection.error.raised", "connection.error.resolved"}}
	if s := c.do("POST", "/webhooks", body, nil); s != 201 {
		t.Fatalf("create webhook: %d", s)
	}
	company, conn, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", sampleCSV)
	a := runAgent(t, config)
	waitAllComplete(t, c, company, 90*time.Second)
	// On a loaded machine the agent may start more than the threshold
	// after it linked: it was offline, and that was reported and resolved
	// already. What follows counts from here.
	waitFor(t, 30*time.Second, "no Active error while the agent runs", func() bool {
		for _, e := range connErrors(t, c, company, conn) {
			if e.Status == "Active" {
				return false
			}
		}
		return true
	})
	before := len(connErrors(t, c, company, conn))
	offlines, onlines := len(hookEvents(rcv, "agent.offline")), len(hookEvents(rcv, "agent.online"))

	a.kill()
	var offline connError
	waitFor(t, 30*time.Second, "the AgentOffline error", func() bool {
		var ok bool
		offline, ok = hasError(connErrors(t, c, company, conn), "AgentOffline", "Active")
		return ok
	})
	var agents struct {
		Results []struct{ ID, LastSeen string }
	}
	c.do("GET", "/agents", nil, &agents)
	lastSeen, err1 := time.Parse(time.RFC3339, agents.Results[0].LastSeen)
	erroredOn, err2 := time.Parse(time.RFC3339, offline.ErroredOnUtc)
	if err1 != nil || err2 != nil || erroredOn.Sub(lastSeen) < after {
		t.Errorf("raised at %s, the agent last seen at %s: want %s or more after (%v, %v)", offline.ErroredOnUtc,
			agents.Results[0].LastSeen, after, err1, err2)
	}
	if offline.StatusCode != "503" || offline.ResolvedOnUtc != "" || offline.ErrorMessage == "" {
		t.Errorf("AgentOffline error %+v", offline)
	}
	// The two events are delivered each on its own, in either order.
	waitFor(t, 30*time.Second, "agent.offline and connection.error.raised", func() bool {
		return len(hookEvents(rcv, "agent.offline")) == offlines+1 && containsError(hookEvents(rcv, "connection.error.raised"), offline)
	})
	if e := hookEvents(rcv, "agent.offline")[offlines]; e != offline {
		t.Errorf("agent.offline's error %+v, want the connection's %+v", e, offline)
	}

	runAgent(t, config)
	waitFor(t, 30*time.Second, "the AgentOffline error resolved", func() bool {
		errs := connErrors(t, c, company, conn)
		return len(errs) == before+1 && errs[before].Status == "Resolved"
	})
	waitFor(t, 30*time.Second, "agent.online and connection.error.resolved", func() bool {
		resolved := hookEvents(rcv, "connection.error.resolved")
		return len(hookEvents(rcv, "agent.online")) == onlines+1 &&
			len(resolved) > 0 && resolved[len(resolved)-1].ErroredOnUtc == offline.ErroredOnUtc
	})
	errs := connErrors(t, c, company, conn)
	if got := errs[before]; got.ResolvedOnUtc == "" || got.ErroredOnUtc != offline.ErroredOnUtc {
		t.Errorf("the error after the agent came back: %+v, want it Resolved", got)
	}
	if n := len(hookEvents(rcv, "agent.offline")); n != offlines+1 {
		t.Errorf("agent.offline sent %d times after the kill, want once", n-offlines)
	}
}

// containsError reports whether errs has e (the same kind raised at the
// same time).
func containsError(errs []connError, e connError) bool {
	for _, o := range errs {
		if o.StatusText == e.StatusText && o.ErroredOnUtc == e.ErroredOnUtc {
			return true
		}
	}
	return false
}

// TestBookErrorsRaiseAndResolve: the real agent's fetch of a book made
// unreadable, then removed, raises BookUnreadable, then BookMissing
// (resolving the first); the book restored, the next sync resolves it.
func TestBookErrorsRaiseAndResolve(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	book := filepath.Join(t.TempDir(), "books.gnucash")
	good := filepath.Join(gnucashBooks, "business-de.gnucash.xml")
	copyBook(t, good, book)
	company, conn, code := setupConnection(t, c, "gnucash")
	config := linkAgent(t, c, code, "gnucash", book)
	runAgent(t, config)
	waitAllEnded(t, c, "first link", company)

	sync := func(what, wantStatus string) {
		t.Helper()
		var d struct{ ID string }
		if s := c.do("POST", "/companies/"+company+"/data/queue/chartOfAccounts", nil, &d); s != 200 {
			t.Fatalf("%s: queue: %d", what, s)
		}
		waitFor(t, 60*time.Second, what+": the sync ended", func() bool {
			return dataStatus(t, c, company)["chartOfAccounts"] == wantStatus
		})
	}
	if err := os.WriteFile(book, []byte("this is no book"), 0o600); err != nil {
		t.Fatal(err)
	}
	sync("unreadable", "FetchError")
	errs := connErrors(t, c, company, conn)
	if e, ok := hasError(errs, "BookUnreadable", "Active"); !ok || e.StatusCode != "422" || e.ErrorMessage == "" {
		t.Fatalf("errors after an unreadable book: %+v", errs)
	}
	portalShowsError(t, c, company, conn, "BookUnreadable")
	if err := os.Remove(book); err != nil {
		t.Fatal(err)
	}
	sync("missing", "FetchError")
	errs = connErrors(t, c, company, conn)
	_, missing := hasError(errs, "BookMissing", "Active")
	_, unreadable := hasError(errs, "BookUnreadable", "Resolved")
	if !missing || !unreadable {
		t.Fatalf("errors after the book was removed: %+v", errs)
	}
	copyBook(t, good, book)
	sync("restored", "Complete")
	for _, e := range connErrors(t, c, company, conn) {
		if e.Status != "Resolved" || e.ResolvedOnUtc == "" {
			t.Errorf("after the book was restored: %+v", e)
		}
	}
}

// portalShowsError signs in to the Portal in a real (headless) chromium
// and waits for the company page to list the connection's Active error of
// kind, and saves a screenshot.
func portalShowsError(t *testing.T, c *coordinator, company, conn, kind string) {
	t.Helper()
	tab := browserTab(t, 2*time.Minute)
	err := chromedp.Do(tab,
		chromedp.Navigate(c.url()+"/"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), e2eKey),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("companies")),
		chromedp.Navigate(c.url()+"/portal/companies/"+company),
		chromedp.WaitVisible(chromedp.ID("conn-errors-"+conn)),
	)
	if err != nil {
		t.Fatalf("the Portal's company page: %v", err)
	}
	text, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#conn-errors-`+conn+` li[data-kind="`+kind+`"][data-status="Active"]`)))
	if err != nil || !strings.Contains(text, kind) || !strings.Contains(text, "Active") {
		t.Errorf("the Portal shows %q (%v), want the Active %s error", text, err, kind)
	}
	screenshot(t, tab, "portal-connection-error.png")
}
