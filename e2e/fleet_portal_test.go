package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestFleetPagesInABrowser runs a real agent, kills it (SIGKILL) and
// starts it again, then opens the Portal in chromium with a support key:
// it lands on the fleet page, which counts the agent online, and the
// agent's page, whose strip shows two Online spans around an Offline one
// with the reason on hover. It saves the fleet, agent and company pages
// among the artifacts (and as docs/screenshots/*.png with
// FERRY_DOC_SCREENSHOTS=1).
func TestFleetPagesInABrowser(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, _, code := setupConnection(t, c, "gnucash")
	config := linkAgent(t, c, code, "gnucash", sampleBook)
	var agents struct {
		Results []struct{ ID, Status string }
	}
	online := func() bool {
		c.do("GET", "/agents", nil, &agents)
		return len(agents.Results) == 1 && agents.Results[0].Status == "Online"
	}
	agent := runAgent(t, config)
	waitFor(t, time.Minute, "the agent online", online)
	id := agents.Results[0].ID
	agent.kill()
	waitFor(t, time.Minute, "the agent's disconnect recorded", func() bool {
		var evs struct{ Results []struct{ Type string } }
		c.do("GET", "/agents/"+id+"/events", nil, &evs)
		return slices.ContainsFunc(evs.Results, func(e struct{ Type string }) bool { return e.Type == "Disconnected" })
	})
	runAgent(t, config)
	waitFor(t, time.Minute, "the agent online again", online)

	var key struct{ APIKey string }
	if s := c.do("POST", "/apiKeys", map[string]any{"name": "support desk", "scope": "support"}, &key); s != 201 {
		t.Fatalf("create a support key: %d", s)
	}
	tab := browserTab(t, 2*time.Minute)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("sign in: the fleet page is a support key's home",
		chromedp.Navigate(c.url()+"/"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), key.APIKey),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("fleet-counts")),
	)
	counts, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
		`["fleet-total", "fleet-online"].map(id => document.getElementById(id).textContent.trim())`))
	if err != nil || len(counts) != 2 || counts[0] != "1" || counts[1] != "1" {
		t.Errorf("fleet counts (total, online) %q, %v; want 1 and 1", counts, err)
	}
	// The server renders UTC; the page shows the viewer's zone, UTC on hover.
	local, err := chromedp.Run(tab, chromedp.Evaluate[bool](
		`(t => t !== null && t.hasAttribute("data-local") && t.title.endsWith("UTC"))(document.querySelector("time[datetime]"))`))
	if err != nil || !local {
		t.Errorf("times: rewritten to the viewer's zone with UTC in the title: %v, %v", local, err)
	}
	docShot(t, tab, "fleet.png")

	do("open the agent's page",
		chromedp.Navigate(c.url()+"/portal/agents/"+id),
		chromedp.WaitVisible(chromedp.ID("connectivity")),
	)
	states, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#connectivity svg.strip rect.span")).map(r => r.dataset.state)`))
	if err != nil {
		t.Fatal(err)
	}
	// A tick of Unknown may come first: the agent was linked just before
	// it connected.
	if got := strings.TrimPrefix(strings.Join(states, " "), "Unknown "); got != "Online Offline Online" {
		t.Errorf("the strip's spans: %q, want Online Offline Online", states)
	}
	titles, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#connectivity svg.strip rect.span title")).map(t => t.textContent)`))
	if err != nil || len(titles) < 3 || !strings.Contains(titles[len(titles)-3], "ended: ") {
		t.Errorf("the spans' titles (shown on hover): %q, %v; want the first Online's to say why it ended", titles, err)
	}
	disconnects, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("disconnects")))
	if err != nil || disconnects != "1" {
		t.Errorf("disconnects %q, %v; want 1", disconnects, err)
	}
	docShot(t, tab, "agent.png")

	do("open the company's page",
		chromedp.Navigate(c.url()+"/portal/companies/"+company),
		chromedp.WaitVisible(chromedp.CSS(`section.conn-strip svg.strip`)),
	)
	docShot(t, tab, "company.png")
}

// docShot saves the page's screenshot among the test's artifacts and,
// with FERRY_DOC_SCREENSHOTS=1, in docs/screenshots, which the docs show
// (so that an ordinary run leaves the checkout as it was).
func docShot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{artifactDir(t)}
	if os.Getenv("FERRY_DOC_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
