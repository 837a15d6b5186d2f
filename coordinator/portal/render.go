package portal

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// page is what every page template gets; Data is the page's own.
type page struct {
	Title   string
	CSRF    string
	Signed  bool
	KeyName string
	Scope   store.Scope
	Nav     []navItem
	// Online is how many agents are online, shown beside the menu.
	Online   int
	Flash    string
	FlashBad bool
	Data     any
}

var funcs = template.FuncMap{
	"when":       when,
	"indent":     indent,
	"checkClass": checkClass,
	"weekdays":   func() []string { return weekdays },
	"add":        func(a, b int) int { return a + b },
	"findings": func(title, id string, items []store.ValidationItem) findingsView {
		return findingsView{Title: title, ID: id, Items: items}
	},
	"statusClass": func(s dataset.Status) string {
		switch {
		case s == "":
			return "never"
		case s == dataset.Complete:
			return "ok"
		case s.IsError():
			return "bad"
		case s.Terminal():
			return "warn"
		}
		return "busy"
	},
}

// when is a time as the pages show it; "—" for none: a <time> element
// in UTC, which portal.js rewrites in the viewer's time zone, keeping
// UTC in its title (shown on hover).
func when(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC().Format("2006-01-02 15:04:05 UTC")
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `" title="` + u + `">` + u + `</time>`)
}

type findingsView struct {
	Title, ID string
	Items     []store.ValidationItem
}

// pages holds one template set per page, each the layout plus that page's
// "content" (and any fragments it defines).
var pages = func() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/agent-parts.html", "templates/window-parts.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"fleet", "signin", "companies", "company", "dataset", "agents", "agent", "revoke", "linkcode", "error", "financials", "report", "syncwindow", "releases", "rollout"} {
		out[name] = template.Must(template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html"))
	}
	return out
}()

// render writes a whole page; a template error is logged and, when nothing
// was written yet, answered with 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	h.renderTemplate(w, status, pages[name], "layout.html", p)
}

func (h *Handler) renderTemplate(w http.ResponseWriter, status int, t *template.Template, name string, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.Error("portal render", "template", name, "err", err)
		http.Error(w, "Something went wrong; try again.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// signedPage fills the parts of a page every signed-in page has, and takes
// the session's flash message.
func (h *Handler) signedPage(ctx context.Context, s *session, title string, data any) page {
	p := page{Title: title, Data: data, Nav: h.nav}
	if s != nil {
		p.Signed, p.CSRF, p.KeyName, p.Scope = true, s.csrf, s.keyName, s.scope
		p.Flash, p.FlashBad = h.sessions.takeFlash(ctx, s)
		p.Online = h.agents.OnlineCount()
	}
	return p
}

type errorData struct{ Message string }

// fail answers with an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	h.render(w, r, status, "error", h.signedPage(r.Context(), s, http.StatusText(status), errorData{msg}))
}

// internal answers 500 for an unexpected error, logged once here.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	h.log.Error("portal", "path", r.URL.Path, "err", err)
	h.fail(w, r, s, http.StatusInternalServerError, "Something went wrong; try again.")
}
