package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// heldDatasets returns the company's Queued datasets with their
// statusDescription, by data type.
func heldDatasets(t *testing.T, c *coordinator, company string) map[string]string {
	t.Helper()
	var page struct {
		Results []struct{ DataType, Status, StatusDescription string }
	}
	if s := c.do("GET", "/companies/"+company+"/data/history?pageSize=100", nil, &page); s != 200 {
		t.Fatalf("history: %d", s)
	}
	out := map[string]string{}
	for _, d := range page.Results {
		if d.Status == "Queued" {
			out[d.DataType] = d.StatusDescription
		}
	}
	return out
}

// TestSyncWindowAndPause runs one real agent bound to two connections: the
// first held, the second free, whose syncs mark that the agent has been
// offered everything the hub would offer it. A first link queued outside
// the client's window waits Queued, saying when the window opens, and
// completes once the connection's own window includes now; a sync queued
// on the paused connection waits, saying so, and completes on resume.
func TestSyncWindowAndPause(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	held, heldConn, heldCode := setupConnection(t, c, "csv")
	free, freeConn, freeCode := setupConnection(t, c, "csv")

	// The client's window: one hour, three days from now (closed now);
	// the free connection's own window: any time.
	day := time.Now().UTC().Add(72 * time.Hour).Format("Mon")
	closed := map[string]any{"timeZone": "UTC", "windows": []map[string]any{{"days": []string{day}, "start": "00:00", "end": "01:00"}}}
	anyTime := map[string]any{"timeZone": "UTC", "windows": []any{}}
	if s := c.do("PUT", "/profile/syncWindow", closed, nil); s != 200 {
		t.Fatalf("PUT /profile/syncWindow: %d", s)
	}
	if s := c.do("PUT", "/companies/"+free+"/connections/"+freeConn+"/syncWindow", anyTime, nil); s != 200 {
		t.Fatalf("PUT the free connection's window: %d", s)
	}
	config := filepath.Join(t.TempDir(), "agent.json")
	linkInto(t, c.url(), config, heldCode, "csv", sampleCSV)
	linkInto(t, c.url(), config, freeCode, "csv", sampleCSV)
	runAgent(t, config)

	// The free connection's first link completes: the agent has been
	// offered all it would be; the held one's still waits.
	waitAllComplete(t, c, free, 90*time.Second)
	waiting := heldDatasets(t, c, held)
	if len(waiting) != len(dataset.DataTypes) {
		t.Fatalf("outside the window %d types wait Queued (%v), want all %d", len(waiting), waiting, len(dataset.DataTypes))
	}
	for dt, desc := range waiting {
		if !strings.Contains(desc, "client's sync window, which opens at") {
			t.Errorf("%s waits saying %q, want when the client's window opens", dt, desc)
		}
	}
	// The window moved to include now: everything completes.
	if s := c.do("PUT", "/companies/"+held+"/connections/"+heldConn+"/syncWindow", anyTime, nil); s != 200 {
		t.Fatalf("PUT the held connection's window: %d", s)
	}
	waitAllComplete(t, c, held, 90*time.Second)

	// Pause holds a sync queued on the connection; resume releases it.
	var cn struct {
		Paused      bool
		PausedSince string
	}
	if s := c.do("POST", "/companies/"+held+"/connections/"+heldConn+"/pause", nil, &cn); s != 200 || !cn.Paused || cn.PausedSince == "" {
		t.Fatalf("pause: %d %+v", s, cn)
	}
	if s := c.do("POST", "/companies/"+held+"/data/queue/invoices", nil, nil); s != 200 {
		t.Fatalf("queue invoices on the paused connection: %d", s)
	}
	queueAndComplete(t, c, free, "invoices", 60*time.Second)
	if desc, ok := heldDatasets(t, c, held)["invoices"]; !ok || !strings.Contains(desc, "paused") {
		t.Fatalf("invoices on the paused connection: queued %v saying %q; want Queued, saying paused", ok, desc)
	}
	if s := c.do("POST", "/companies/"+held+"/connections/"+heldConn+"/resume", nil, &cn); s != 200 || cn.Paused {
		t.Fatalf("resume: %d %+v", s, cn)
	}
	waitAllComplete(t, c, held, 60*time.Second)
}

// TestPortalPauseAndWindow drives the company page in a real (headless)
// chromium: Pause, a window of one span set with the editor, a bad time
// refused with a message naming it, then Resume; the API sees each change.
func TestPortalPauseAndWindow(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, conn, _ := setupConnection(t, c, "csv")
	tab := browserTab(t, 2*time.Minute)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// untilText waits for the element's text to hold want: a button posts
	// and the page that comes back replaces the one clicked.
	untilText := func(what, sel, want string) {
		t.Helper()
		js := fmt.Sprintf(`(e => e !== null && e.textContent.includes(%q))(document.querySelector(%q))`, want, sel)
		waitFor(t, 30*time.Second, what+": "+sel+" showing "+want, func() bool {
			ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](js)) // an error while the page loads: ask again
			return err == nil && ok
		})
	}
	var cn struct {
		Paused      bool
		PausedSince string
	}
	row := "#conn-" + conn + " "
	do("sign in and open the company",
		chromedp.Navigate(c.url()+"/"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), e2eKey),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("companies")),
		chromedp.Click(chromedp.CSS(`#companies a[href="/portal/companies/`+company+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+"button.pause")),
	)
	do("pause", chromedp.Click(chromedp.CSS(row+"button.pause")), chromedp.WaitVisible(chromedp.CSS(row+".status.paused")))
	if c.do("GET", "/companies/"+company+"/connections/"+conn, nil, &cn); !cn.Paused || cn.PausedSince == "" {
		t.Fatalf("after the Pause button the API says %+v", cn)
	}
	do("set a window",
		chromedp.Click(chromedp.CSS(row+"details.window-edit summary")),
		chromedp.WaitVisible(chromedp.CSS(row+`input[name=timeZone]`)),
		chromedp.SetValue(chromedp.CSS(row+`input[name=timeZone]`), "Europe/London"),
		chromedp.Click(chromedp.CSS(row+`input[name=days-0][value=Tue]`)),
		chromedp.Click(chromedp.CSS(row+`input[name=days-0][value=Thu]`)),
		chromedp.SetValue(chromedp.CSS(row+`input[name=start-0]`), "19:00"),
		chromedp.SetValue(chromedp.CSS(row+`input[name=end-0]`), "07:00"),
		chromedp.Click(chromedp.CSS(row+"button.set-window")),
	)
	untilText("set a window", row+".window-summary", "Tue, Thu 19:00–07:00 (Europe/London)")
	var w struct {
		TimeZone    string
		AppliesFrom string
		Windows     []struct{ Days []string }
	}
	if c.do("GET", "/companies/"+company+"/connections/"+conn+"/syncWindow", nil, &w); w.AppliesFrom != "connection" || w.TimeZone != "Europe/London" || len(w.Windows) != 1 || len(w.Windows[0].Days) != 2 {
		t.Errorf("after Set window the API says %+v", w)
	}
	do("a bad time",
		chromedp.Click(chromedp.CSS(row+"details.window-edit summary")),
		chromedp.SetValue(chromedp.CSS(row+`input[name=start-0]`), "7pm"),
		chromedp.Click(chromedp.CSS(row+"button.set-window")),
	)
	untilText("a bad time", "#flash", "Sync window not set: span 1 start")
	screenshot(t, tab, "portal-sync-window.png")
	do("resume", chromedp.Click(chromedp.CSS(row+"button.resume")), chromedp.WaitVisible(chromedp.CSS(row+".status.running")))
	cn = struct {
		Paused      bool
		PausedSince string
	}{}
	if c.do("GET", "/companies/"+company+"/connections/"+conn, nil, &cn); cn.Paused {
		t.Fatalf("after the Resume button the API says %+v", cn)
	}
}
