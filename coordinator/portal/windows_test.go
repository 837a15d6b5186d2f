package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPauseAndWindowForms: a client key pauses and resumes a connection
// and sets, widens and removes its own window from the company page; a bad
// field is a message naming it; a support key sees the state without the
// forms, and its posts, as forged ones, are refused and change nothing.
func TestPauseAndWindowForms(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	_, page := b.get("/portal/companies/co")
	if !strings.Contains(page, `class="status ok running"`) || !strings.Contains(page, `class="pause"`) || !strings.Contains(page, `class="window-summary">any time<`) {
		t.Fatalf("company page: want Running, a Pause button and any time:\n%s", page)
	}
	csrf := csrfOf(t, page)
	post := func(path string, form url.Values) string {
		t.Helper()
		form.Set("csrf", csrf)
		resp, _ := b.post("/portal/companies/co/connections/cn/"+path, form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d, want 303", path, resp.StatusCode)
		}
		_, page := b.get("/portal/companies/co")
		return page
	}
	page = post("pause", url.Values{})
	if !strings.Contains(page, `class="status warn paused"`) || !strings.Contains(page, `class="resume"`) {
		t.Errorf("after Pause: want Paused and a Resume button:\n%s", page)
	}
	if c, _ := e.st.Connection(t.Context(), "co", "cn"); c.PausedSince.IsZero() {
		t.Error("the Portal's pause is not in the store")
	}
	page = post("resume", url.Values{})
	if !strings.Contains(page, `class="status ok running"`) {
		t.Errorf("after Resume: want Running:\n%s", page)
	}
	page = post("syncWindow", url.Values{"action": {"span"}, "timeZone": {"Europe/London"}, "days": {"Mon", "Fri"}, "start": {"19:00"}, "end": {"07:00"}})
	if !strings.Contains(page, `class="window-summary">Mon, Fri 19:00–07:00 (Europe/London)<`) || !strings.Contains(page, "(this connection's own)") {
		t.Errorf("after Set window: want the span, the connection's own:\n%s", page)
	}
	if g, _ := e.st.SyncGate(t.Context(), "cn"); g.Window == nil || g.Window.TimeZone != "Europe/London" {
		t.Errorf("the Portal's window is not in the store: %+v", g)
	}
	page = post("syncWindow", url.Values{"action": {"span"}, "timeZone": {"Mars/Olympus"}, "days": {"Mon"}, "start": {"19:00"}, "end": {"07:00"}})
	if !strings.Contains(page, "Sync window not set: timeZone") {
		t.Errorf("a bad zone: want a message naming timeZone:\n%s", page)
	}
	page = post("syncWindow", url.Values{"action": {"span"}, "timeZone": {"UTC"}, "days": {"Mon"}, "start": {"7pm"}, "end": {"07:00"}})
	if !strings.Contains(page, "Sync window not set: start") {
		t.Errorf("a bad start: want a message naming start:\n%s", page)
	}
	page = post("syncWindow", url.Values{"action": {"any"}})
	if !strings.Contains(page, `class="window-summary">any time<`) || !strings.Contains(page, `class="inherit-window"`) {
		t.Errorf("after Any time: want any time, its own:\n%s", page)
	}
	page = post("syncWindow", url.Values{"action": {"inherit"}})
	if strings.Contains(page, `class="inherit-window"`) || !strings.Contains(page, `window-source">(none)`) {
		t.Errorf("after Use the default: want none set:\n%s", page)
	}

	sup := e.signedIn(supportKey)
	_, page = sup.get("/portal/companies/co")
	if strings.Contains(page, `class="pause"`) || strings.Contains(page, `class="window-form"`) || !strings.Contains(page, `class="status ok running"`) {
		t.Errorf("support's company page: want the state without the forms:\n%s", page)
	}
	for _, path := range []string{"pause", "resume", "syncWindow"} {
		if resp, _ := sup.post("/portal/companies/co/connections/cn/"+path, url.Values{"csrf": {csrfOf(t, page)}, "action": {"any"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("support's %s: %d, want 403", path, resp.StatusCode)
		}
		if resp, _ := b.post("/portal/companies/co/connections/cn/"+path, url.Values{"csrf": {"forged"}, "action": {"any"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("forged %s: %d, want 403", path, resp.StatusCode)
		}
		if resp, _ := b.post("/portal/companies/other/connections/cn/"+path, url.Values{"csrf": {csrf}, "action": {"any"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s on another company's path: %d, want 404", path, resp.StatusCode)
		}
	}
	if c, _ := e.st.Connection(t.Context(), "co", "cn"); !c.PausedSince.IsZero() || c.SyncWindow != nil {
		t.Errorf("the refused posts changed the connection: %+v", c)
	}
}
