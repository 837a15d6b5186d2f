package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// poster posts a form with the session's CSRF token, expects the
// redirect back, and returns the page it leads to.
func (b *browser) poster(t *testing.T, csrf string) func(path, back string, form url.Values) string {
	return func(path, back string, form url.Values) string {
		t.Helper()
		form.Set("csrf", csrf)
		resp, _ := b.post(path, form)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back {
			t.Fatalf("POST %s: %d to %q, want 303 to %s", path, resp.StatusCode, resp.Header.Get("Location"), back)
		}
		_, page := b.get(back)
		return page
	}
}

// twoSpans is an editor's post of two spans in London.
func twoSpans() url.Values {
	return url.Values{"action": {"save"}, "timeZone": {"Europe/London"},
		"days-0": {"Mon", "Fri"}, "start-0": {"19:00"}, "end-0": {"07:00"},
		"days-1": {"Sat"}, "start-1": {"10:00"}, "end-1": {"12:00"},
		"start-2": {""}, "end-2": {""}}
}

const twoSpansSummary = `Mon, Fri 19:00–07:00; Sat 10:00–12:00 (Europe/London)`

// TestPauseAndWindowForms: a client key pauses and resumes a connection
// and edits its own window from the company page: two spans at once, one
// removed, a bad field named with its span, any time, the default again.
func TestPauseAndWindowForms(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	_, page := b.get("/portal/companies/co")
	if !strings.Contains(page, `class="status ok running"`) || !strings.Contains(page, `class="pause"`) || !strings.Contains(page, `class="window-summary">any time<`) {
		t.Fatalf("company page: want Running, a Pause button and any time:\n%s", page)
	}
	post := b.poster(t, csrfOf(t, page))
	conn := "/portal/companies/co/connections/cn/"
	page = post(conn+"pause", "/portal/companies/co", url.Values{})
	if !strings.Contains(page, `class="status warn paused"`) || !strings.Contains(page, `class="resume"`) {
		t.Errorf("after Pause: want Paused and a Resume button:\n%s", page)
	}
	if c, _ := e.st.Connection(t.Context(), "co", "cn"); c.PausedSince.IsZero() {
		t.Error("the Portal's pause is not in the store")
	}
	page = post(conn+"resume", "/portal/companies/co", url.Values{})
	if !strings.Contains(page, `class="status ok running"`) {
		t.Errorf("after Resume: want Running:\n%s", page)
	}

	page = post(conn+"syncWindow", "/portal/companies/co", twoSpans())
	if !strings.Contains(page, `class="window-summary">`+twoSpansSummary+`<`) || !strings.Contains(page, "(this connection&#39;s own)") {
		t.Errorf("after Save with two spans: want both, the connection's own:\n%s", page)
	}
	for _, want := range []string{`name="start-1" value="10:00"`, `name="remove-1"`, `class="span-row span-new" data-span="2"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the editor after two spans: want %s:\n%s", want, page)
		}
	}
	if g, _ := e.st.SyncGate(t.Context(), "cn"); g.Window == nil || g.Window.TimeZone != "Europe/London" || len(g.Window.Windows) != 2 {
		t.Errorf("the Portal's window is not in the store: %+v", g)
	}
	removed := twoSpans()
	removed.Set("remove-0", "1")
	page = post(conn+"syncWindow", "/portal/companies/co", removed)
	if !strings.Contains(page, `class="window-summary">Sat 10:00–12:00 (Europe/London)<`) {
		t.Errorf("after removing the first span: want the second alone:\n%s", page)
	}
	bad := twoSpans()
	bad.Set("timeZone", "Mars/Olympus")
	if page = post(conn+"syncWindow", "/portal/companies/co", bad); !strings.Contains(page, "Sync window not set: timeZone") {
		t.Errorf("a bad zone: want a message naming timeZone:\n%s", page)
	}
	bad = twoSpans()
	bad.Set("start-1", "7pm")
	if page = post(conn+"syncWindow", "/portal/companies/co", bad); !strings.Contains(page, "Sync window not set: span 2 start") {
		t.Errorf("a bad start in the second span: want a message naming it:\n%s", page)
	}
	bad = twoSpans()
	bad.Set("start-2", "08:00") // the new span, without days
	if page = post(conn+"syncWindow", "/portal/companies/co", bad); !strings.Contains(page, "Sync window not set: span 3 days") {
		t.Errorf("a new span without days: want a message naming it:\n%s", page)
	}
	if g, _ := e.st.SyncGate(t.Context(), "cn"); len(g.Window.Windows) != 1 {
		t.Errorf("the refused saves changed the window: %+v", g.Window)
	}
	page = post(conn+"syncWindow", "/portal/companies/co", url.Values{"action": {"any"}})
	if !strings.Contains(page, `class="window-summary">any time<`) || !strings.Contains(page, `class="inherit-window"`) {
		t.Errorf("after Any time: want any time, its own:\n%s", page)
	}
	page = post(conn+"syncWindow", "/portal/companies/co", url.Values{"action": {"inherit"}})
	if strings.Contains(page, `class="inherit-window"`) || !strings.Contains(page, `window-source">(none)`) {
		t.Errorf("after Use the default: want none set:\n%s", page)
	}
}

// TestCompanyAndClientWindowForms: the company page edits the company's
// window, which its connections without their own follow; the client's
// page edits the default, which a company without its own follows.
func TestCompanyAndClientWindowForms(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	_, page := b.get("/portal/syncWindow")
	if !strings.Contains(page, `class="client-window-form"`) || !strings.Contains(page, `window-source">(none)`) {
		t.Fatalf("the client's page: want its editor and none set:\n%s", page)
	}
	post := b.poster(t, csrfOf(t, page))
	page = post("/portal/syncWindow", "/portal/syncWindow", twoSpans())
	if !strings.Contains(page, `class="window-summary">`+twoSpansSummary+`<`) || !strings.Contains(page, "(the client&#39;s default)") {
		t.Errorf("the client's page after Save: want both spans, its own:\n%s", page)
	}
	if w, _ := e.st.ProfileSyncWindow(t.Context()); w == nil || len(w.Windows) != 2 {
		t.Errorf("the client's window is not in the store: %+v", w)
	}
	_, page = b.get("/portal/companies/co")
	if !strings.Contains(page, `window-source">(client)`) || strings.Contains(page, "(this company&#39;s own)") {
		t.Errorf("the company page: want the client's window in force:\n%s", page)
	}

	page = post("/portal/companies/co/syncWindow", "/portal/companies/co", url.Values{"action": {"save"}, "timeZone": {"America/New_York"},
		"days-0": {"Sun"}, "start-0": {"22:00"}, "end-0": {"02:00"}})
	company, _, _ := strings.Cut(page, `<h2>Connections</h2>`)
	if !strings.Contains(company, `class="window-summary">Sun 22:00–02:00 (America/New_York)<`) || !strings.Contains(company, "(this company&#39;s own)") ||
		!strings.Contains(company, `class="company-window-form"`) {
		t.Errorf("the company's window after Save:\n%s", company)
	}
	if _, conns, _ := strings.Cut(page, `<h2>Connections</h2>`); !strings.Contains(conns, `class="window-summary">Sun 22:00–02:00 (America/New_York)<`) ||
		!strings.Contains(conns, `window-source">(company)`) {
		t.Errorf("the connection: want the company's window in force:\n%s", conns)
	}
	if co, _ := e.st.Company(t.Context(), "co"); co.SyncWindow == nil || co.SyncWindow.TimeZone != "America/New_York" {
		t.Errorf("the company's window is not in the store: %+v", co.SyncWindow)
	}
	bad := url.Values{"action": {"save"}, "timeZone": {"UTC"}, "days-0": {"Funday"}, "start-0": {"22:00"}, "end-0": {"02:00"}}
	if page = post("/portal/companies/co/syncWindow", "/portal/companies/co", bad); !strings.Contains(page, "Sync window not set: span 1 days[0]") {
		t.Errorf("a bad day: want a message naming it:\n%s", page)
	}
	page = post("/portal/companies/co/syncWindow", "/portal/companies/co", url.Values{"action": {"inherit"}})
	if company, _, _ := strings.Cut(page, `<h2>Connections</h2>`); !strings.Contains(company, `window-source">(client)`) {
		t.Errorf("after the company's Use the default: want the client's:\n%s", company)
	}
	page = post("/portal/syncWindow", "/portal/syncWindow", url.Values{"action": {"inherit"}})
	if !strings.Contains(page, `window-source">(none)`) {
		t.Errorf("after the client's Use the default: want none:\n%s", page)
	}
}

// TestWindowFormsRefused: a support key sees every level's window without
// an editor and is refused each post; forged posts, another company's
// path to a connection, a company that does not exist and an unknown
// action are refused; none changes anything.
func TestWindowFormsRefused(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	if err := e.st.CreateCompany(ctx, store.Company{ID: "other", Name: "Other Ltd", Created: e.h.now()}); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(clientKey)
	csrf := b.token()
	sup := e.signedIn(supportKey)
	for _, path := range []string{"/portal/companies/co", "/portal/syncWindow"} {
		_, page := sup.get(path)
		if strings.Contains(page, "window-form") || strings.Contains(page, `class="pause"`) || !strings.Contains(page, `class="window-summary">any time<`) {
			t.Errorf("support's %s: want the window without forms:\n%s", path, page)
		}
	}
	supCSRF := sup.token()
	save := twoSpans()
	for _, path := range []string{"/portal/companies/co/connections/cn/syncWindow", "/portal/companies/co/syncWindow", "/portal/syncWindow",
		"/portal/companies/co/connections/cn/pause"} {
		save.Set("csrf", supCSRF)
		if resp, _ := sup.post(path, save); resp.StatusCode != http.StatusForbidden {
			t.Errorf("support's post to %s: %d, want 403", path, resp.StatusCode)
		}
		save.Set("csrf", "forged")
		if resp, _ := b.post(path, save); resp.StatusCode != http.StatusForbidden {
			t.Errorf("forged post to %s: %d, want 403", path, resp.StatusCode)
		}
	}
	save.Set("csrf", csrf)
	for _, path := range []string{"/portal/companies/other/connections/cn/syncWindow", "/portal/companies/nope/syncWindow",
		"/portal/companies/co/connections/nope/syncWindow"} {
		if resp, _ := b.post(path, save); resp.StatusCode != http.StatusNotFound {
			t.Errorf("post to %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := b.post("/portal/syncWindow", url.Values{"csrf": {csrf}, "action": {"explode"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown action: %d, want 400", resp.StatusCode)
	}
	c, _ := e.st.Connection(ctx, "co", "cn")
	co, _ := e.st.Company(ctx, "co")
	other, _ := e.st.Company(ctx, "other")
	client, _ := e.st.ProfileSyncWindow(ctx)
	if c.SyncWindow != nil || !c.PausedSince.IsZero() || co.SyncWindow != nil || other.SyncWindow != nil || client != nil {
		t.Errorf("the refused posts changed something: %+v %+v %+v %+v", c, co.SyncWindow, other.SyncWindow, client)
	}
}
