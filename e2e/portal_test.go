package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// sampleBook is the GnuCash sample book shipped in the repo.
var sampleBook, _ = filepath.Abs("../testdata/sample-gnucash/books.gnucash")

// chromium returns the browser the Portal test drives: $FERRY_CHROMIUM, or
// chromium on the PATH. Without one the test skips, except in CI (CI set),
// where a missing browser is a failure: `make deps` installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FERRY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed and CI is set: run `make deps` (apt-get install chromium)")
	}
	t.Skip("chromium is not installed: run `make deps` (apt-get install chromium) or set FERRY_CHROMIUM")
	return ""
}

// artifactDir is where the browser test leaves its screenshot:
// $FERRY_ARTIFACTS, or e2e/artifacts.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FERRY_ARTIFACTS")
	if dir == "" {
		dir, _ = filepath.Abs("artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserTab starts a headless chromium and returns a tab's context.
func browserTab(t *testing.T, within time.Duration) context.Context {
	t.Helper()
	// No sandbox: it refuses to run as root (CI) and needs user namespaces
	// that containers often lack; the browser only opens the test's pages.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.WindowSize(1280, 1000), chromedp.NoSandbox)
	ctx, cancel := context.WithTimeout(t.Context(), within)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	return tab
}

// TestPortalInABrowser signs in to the Portal in a real (headless)
// chromium, queues a sync with the "Queue sync" button, watches the status
// go from Queued to Complete without a reload while a real agent syncs the
// sample GnuCash book, saves a screenshot, sees the agent Online on the
// agents page, and sees forged form posts refused.
func TestPortalInABrowser(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, _, code := setupConnection(t, c, "gnucash")
	config := linkAgent(t, c, code, "gnucash", sampleBook)
	// The first link queued every type; let the agent finish them, then
	// stop it, so the button's sync is seen Queued before it runs.
	agent := runAgent(t, config)
	waitAllComplete(t, c, company, 2*time.Minute)
	agent.kill()
	before := latestSyncs(t, c, company)["invoices"]
	tab := browserTab(t, 3*time.Minute)

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("sign in",
		chromedp.Navigate(c.url()+"/"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), e2eKey),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("companies")),
		chromedp.Click(chromedp.CSS(`#companies a[href="/portal/companies/`+company+`"]`)),
		chromedp.WaitVisible(chromedp.ID("data-status")),
	)
	// The live stream replaces the status part (its buttons too) when its
	// first event arrives and on every change: wait for the first, then
	// press the button as it is at that instant (a click on a node the
	// stream has just replaced would do nothing).
	do("wait for the live status",
		chromedp.WaitReady(chromedp.CSS(`#live[data-updated]`)),
	)
	do("queue invoices with the button",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#status-invoices button.queue").click()`),
		chromedp.WaitVisible(chromedp.ID("flash")),
	)
	flash, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("flash")))
	if err != nil || flash != "invoices queued." {
		t.Fatalf("after the button: flash %q, %v", flash, err)
	}
	queued, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
		`(a => [a.dataset.dataset, a.textContent])(document.querySelector("#status-invoices a.status"))`))
	if err != nil || len(queued) != 2 || queued[0] == before || queued[1] != "Queued" {
		t.Fatalf("invoices after the button: %q (before %s), %v", queued, before, err)
	}
	id := queued[0]

	// From here on the page must not reload: the status arrives live.
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.ferryNoReload = true`))
	runAgent(t, config)
	_, err = chromedp.Run(tab, chromedp.Poll[bool](fmt.Sprintf(
		`(a => a !== null && a.dataset.dataset === %q && a.textContent === "Complete")(document.querySelector("#status-invoices a.status"))`, id),
		chromedp.WithPollingTimeout(90*time.Second)))
	if err != nil {
		t.Fatalf("invoices %s never showed Complete on the page: %v", id, err)
	}
	if kept, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.ferryNoReload === true`)); err != nil || !kept {
		t.Fatalf("the page reloaded (%v, %v): the status did not come live", kept, err)
	}
	if got := getDataset(t, c, company, id); got.Status != "Complete" {
		t.Fatalf("dataset %s is %s by the API", id, got.Status)
	}
	screenshot(t, tab, "portal-complete.png")

	do("open the timeline",
		chromedp.Click(chromedp.CSS(`#status-invoices a.status`)),
		chromedp.WaitVisible(chromedp.ID("timeline")),
	)
	// The page localises its times once loaded, replacing the cells: read
	// the timeline until it holds both lines, with a deadline.
	_, err = chromedp.Run(tab, chromedp.Poll[bool](
		`(t => t !== null && t.innerText.includes("queued in the Portal") && t.innerText.includes("Complete"))(document.getElementById("timeline"))`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		timeline, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("timeline")))
		t.Errorf("timeline: %q, %v", timeline, err)
	}
	screenshot(t, tab, "portal-timeline.png")

	do("open the agents page",
		chromedp.Click(chromedp.CSS(`header nav a[href="/portal/agents"]`)),
		chromedp.WaitVisible(chromedp.ID("agents")),
	)
	_, err = chromedp.Run(tab, chromedp.Poll[bool](
		`(p => p !== null && p.textContent === "Online")(document.querySelector("#agents tbody tr .presence"))`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("the running agent never showed Online on the agents page: %v", err)
	}
	screenshot(t, tab, "portal-agents.png")

	checkForgedPosts(t, tab, c, company)
}

// screenshot saves the page as a test artifact.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// checkForgedPosts posts to the queue button's URL from the signed-in
// browser without the CSRF token (same origin), and from a page of another
// origin with a made-up one: both 403, nothing queued.
func checkForgedPosts(t *testing.T, tab context.Context, c *coordinator, company string) {
	t.Helper()
	target := c.url() + "/portal/companies/" + company + "/queue/bills"
	before := latestSyncs(t, c, company)["bills"]
	status, err := chromedp.Run(tab, chromedp.Evaluate[int](fmt.Sprintf(
		`fetch(%q, {method: "POST", body: new URLSearchParams({}), credentials: "include", redirect: "manual"}).then(r => r.status)`, target),
		chromedp.EvalAwaitPromise))
	if err != nil || status != http.StatusForbidden {
		t.Errorf("same-origin post without the token: %d, %v; want 403", status, err)
	}

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s">
<input type="hidden" name="csrf" value="guessed"><button id="go" type="submit">Win a prize</button></form>`, target)
	}))
	defer evil.Close()
	if err := chromedp.Do(tab,
		chromedp.Navigate(evil.URL),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.ID("error")),
	); err != nil {
		t.Fatalf("forged form: %v", err)
	}
	msg, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("error")))
	if err != nil || !strings.Contains(msg, "did not come from the Portal") {
		t.Errorf("forged form from another origin: %q, %v", msg, err)
	}
	if after := latestSyncs(t, c, company)["bills"]; after != before {
		t.Errorf("a forged post queued bills: %s, was %s", after, before)
	}
}
