package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Pauses and sync windows. Each level's window (a connection's own, its
// company's, the client's default) is shown where it is set (a
// connection's and its company's on the company page, the client's on
// its own page) with an editor for client keys: the window's spans as
// rows, one blank row to add a span, a Remove box on each, Save, Any
// time, and Use the default (remove this level's own, so the level above
// applies). The narrowest set is in force (rules.EffectiveWindow).

// windowView is the window in force at one level, for a page.
type windowView struct {
	// Source is where it comes from; Own: the level shown set its own,
	// which OwnLabel names ("this connection's own").
	Source   store.WindowSource
	Own      bool
	OwnLabel string
	// Summary is the window in words ("any time", or its spans).
	Summary string
	// Opens is when a closed window opens; zero when open now.
	Opens time.Time
	// Edit is the editor's form; nil for a key that may not edit.
	Edit *windowEdit
}

// windowEdit is a window editor's form.
type windowEdit struct {
	// Action is the form's URL; Class names the form for tests and styles.
	Action, Class, CSRF string
	TimeZone            string
	// Rows are the window's spans and, below MaxWindows, a blank one.
	Rows []spanRow
	// Own offers "Use the default", which Default names.
	Own     bool
	Default string
}

// spanRow is one span of the editor; New: the blank row that adds one.
type spanRow struct {
	Index      int
	Days       map[string]bool
	Start, End string
	New        bool
}

// weekdays are the days in the form's order.
var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// windowLevel says how one level's window is shown and edited.
type windowLevel struct {
	ownLabel, action, class, dflt string
}

// viewWindow is w, in force at a level from src, as the page shows it to
// session s (the editor for client keys only).
func (h *Handler) viewWindow(w *store.SyncWindow, src store.WindowSource, own bool, lv windowLevel, s *session) windowView {
	v := windowView{Source: src, Own: own, OwnLabel: lv.ownLabel, Summary: "any time"}
	zone := "UTC"
	var spans []store.Window
	if w != nil {
		zone, spans = w.TimeZone, w.Windows
		if len(spans) > 0 {
			words := make([]string, len(spans))
			for i, sp := range spans {
				words[i] = strings.Join(sp.Days, ", ") + " " + sp.Start + "–" + sp.End
			}
			v.Summary = strings.Join(words, "; ") + " (" + w.TimeZone + ")"
		}
	}
	if hold := rules.HoldAt(store.SyncGate{Window: w, Source: src}, h.now()); hold.Held() {
		v.Opens = hold.Opens
	}
	if s == nil || s.scope != store.ScopeClient {
		return v
	}
	e := &windowEdit{Action: lv.action, Class: lv.class, CSRF: s.csrf, TimeZone: zone, Own: own, Default: lv.dflt}
	for i, sp := range spans {
		row := spanRow{Index: i, Days: map[string]bool{}, Start: sp.Start, End: sp.End}
		for _, d := range sp.Days {
			row.Days[d] = true
		}
		e.Rows = append(e.Rows, row)
	}
	if len(spans) < rules.MaxWindows {
		e.Rows = append(e.Rows, spanRow{Index: len(spans), Days: map[string]bool{}, New: true})
	}
	v.Edit = e
	return v
}

// connectionWindow is the window in force for a connection; a gate that
// cannot be read shows as none.
func (h *Handler) connectionWindow(ctx context.Context, c store.Connection, s *session) windowView {
	lv := windowLevel{ownLabel: "this connection's own", class: "window-form", dflt: "the company's or the client's",
		action: "/portal/companies/" + url.PathEscape(c.CompanyID) + "/connections/" + url.PathEscape(c.ID) + "/syncWindow"}
	g, err := h.store.SyncGate(ctx, c.ID)
	if err != nil {
		return h.viewWindow(nil, store.WindowNone, false, lv, s)
	}
	return h.viewWindow(g.Window, g.Source, g.Source == store.WindowOfConnection, lv, s)
}

// companyWindow is the window in force for a company's connections that
// set none of their own.
func (h *Handler) companyWindow(ctx context.Context, co store.Company, s *session) (windowView, error) {
	client, err := h.store.ProfileSyncWindow(ctx)
	if err != nil {
		return windowView{}, err
	}
	w, src := rules.EffectiveWindow(nil, co.SyncWindow, client)
	lv := windowLevel{ownLabel: "this company's own", class: "company-window-form", dflt: "the client's",
		action: "/portal/companies/" + url.PathEscape(co.ID) + "/syncWindow"}
	return h.viewWindow(w, src, src == store.WindowOfCompany, lv, s), nil
}

type clientWindowData struct{ Window windowView }

// clientWindowPage shows the client's default window.
func (h *Handler) clientWindowPage(w http.ResponseWriter, r *http.Request, s *session) {
	sw, err := h.store.ProfileSyncWindow(r.Context())
	if err != nil {
		h.internal(w, r, s, err)
		return
	}
	src := store.WindowNone
	if sw != nil {
		src = store.WindowOfClient
	}
	lv := windowLevel{ownLabel: "the client's default", class: "client-window-form", dflt: "none: any time", action: "/portal/syncWindow"}
	d := clientWindowData{Window: h.viewWindow(sw, src, sw != nil, lv, s)}
	h.render(w, r, http.StatusOK, "syncwindow", h.signedPage(r.Context(), s, "Default sync window", d))
}

// clientOnly answers 403 unless the session's key is a client key.
func (h *Handler) clientOnly(w http.ResponseWriter, r *http.Request, s *session, what string) bool {
	if s.scope != store.ScopeClient {
		h.fail(w, r, s, http.StatusForbidden, "A "+string(s.scope)+" key may not "+what+".")
		return false
	}
	return true
}

// changeConnection applies fn to the connection and goes back to the
// company page with msg.
func (h *Handler) changeConnection(w http.ResponseWriter, r *http.Request, s *session, co, id, msg string, fn func(*store.Connection) error) {
	if _, err := h.store.UpdateConnection(r.Context(), co, id, fn); err != nil {
		h.storeFail(w, r, s, err, "There is no such connection.")
		return
	}
	h.log.Info("connection changed in the Portal", "company", co, "connection", id, "change", msg, "apiKey", s.keyID)
	h.sessions.setFlash(r.Context(), s, msg, false)
	http.Redirect(w, r, "/portal/companies/"+co, http.StatusSeeOther)
}

func (h *Handler) pause(w http.ResponseWriter, r *http.Request, s *session) {
	if !h.clientOnly(w, r, s, "pause syncs") {
		return
	}
	now := h.now().UTC()
	h.changeConnection(w, r, s, r.PathValue("companyId"), r.PathValue("connectionId"), "Connection paused: nothing syncs until it is resumed.",
		func(c *store.Connection) error {
			if c.PausedSince.IsZero() {
				c.PausedSince = now
			}
			return nil
		})
}

func (h *Handler) resume(w http.ResponseWriter, r *http.Request, s *session) {
	if !h.clientOnly(w, r, s, "resume syncs") {
		return
	}
	h.changeConnection(w, r, s, r.PathValue("companyId"), r.PathValue("connectionId"), "Connection resumed.",
		func(c *store.Connection) error {
			c.PausedSince = time.Time{}
			return nil
		})
}

// setWindow sets a connection's own window from its editor.
func (h *Handler) setWindow(w http.ResponseWriter, r *http.Request, s *session) {
	co, id := r.PathValue("companyId"), r.PathValue("connectionId")
	h.saveWindow(w, r, s, "/portal/companies/"+co, "The connection follows its company's or the client's sync window again.",
		func(sw *store.SyncWindow) (string, error) {
			_, err := h.store.UpdateConnection(r.Context(), co, id, func(c *store.Connection) error {
				c.SyncWindow = sw
				return nil
			})
			return "There is no such connection.", err
		})
}

// setCompanyWindow sets a company's window from its editor.
func (h *Handler) setCompanyWindow(w http.ResponseWriter, r *http.Request, s *session) {
	co := r.PathValue("companyId")
	h.saveWindow(w, r, s, "/portal/companies/"+co, "The company follows the client's sync window again.",
		func(sw *store.SyncWindow) (string, error) {
			_, err := h.store.UpdateCompany(r.Context(), co, func(c *store.Company) error {
				c.SyncWindow = sw
				return nil
			})
			return "There is no such company.", err
		})
}

// setClientWindow sets the client's default window from its editor.
func (h *Handler) setClientWindow(w http.ResponseWriter, r *http.Request, s *session) {
	h.saveWindow(w, r, s, "/portal/syncWindow", "No default sync window: a connection without its own or its company's syncs any time.",
		func(sw *store.SyncWindow) (string, error) {
			return "", h.store.SetProfileSyncWindow(r.Context(), sw)
		})
}

// saveWindow reads an editor's post (action "save", "any" or "inherit")
// and stores the window with set, which says what a store.ErrNotFound
// means; then it goes back to the page back with a message. A bad field
// is a message naming it, as the API's 400.
func (h *Handler) saveWindow(w http.ResponseWriter, r *http.Request, s *session, back, inherited string,
	set func(*store.SyncWindow) (string, error)) {
	if !h.clientOnly(w, r, s, "set sync windows") {
		return
	}
	f := r.PostForm
	var sw *store.SyncWindow
	msg := "Sync window set."
	switch f.Get("action") {
	case "save":
		var bad string
		if sw, bad = windowFromForm(f); bad != "" {
			h.sessions.setFlash(r.Context(), s, "Sync window not set: "+bad+".", true)
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		}
	case "any":
		sw = &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{}}
	case "inherit":
		msg = inherited
	default:
		h.fail(w, r, s, http.StatusBadRequest, "Unknown sync window action.")
		return
	}
	if missing, err := set(sw); err != nil {
		h.storeFail(w, r, s, err, missing)
		return
	}
	h.log.Info("sync window set in the Portal", "path", r.URL.Path, "window", sw != nil, "apiKey", s.keyID)
	h.sessions.setFlash(r.Context(), s, msg, false)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// spanField matches a field of the spans in a rules.FieldError.
var spanField = regexp.MustCompile(`^windows\[(\d+)\]\.?(.*)$`)

// windowFromForm is the window an editor posted: its time zone and each
// row not blank and not marked for removal, in order. A window that
// fails rules.CheckSyncWindow is returned with what is wrong, naming the
// row as the page numbers it ("span 2 start must be HH:MM").
func windowFromForm(f url.Values) (*store.SyncWindow, string) {
	sw := &store.SyncWindow{TimeZone: strings.TrimSpace(f.Get("timeZone")), Windows: []store.Window{}}
	var rows []int // the row of each span
	for i := 0; i <= rules.MaxWindows; i++ {
		k := strconv.Itoa(i)
		days, start, end := f["days-"+k], strings.TrimSpace(f.Get("start-"+k)), strings.TrimSpace(f.Get("end-"+k))
		if f.Get("remove-"+k) != "" || len(days) == 0 && start == "" && end == "" {
			continue
		}
		rows = append(rows, i)
		sw.Windows = append(sw.Windows, store.Window{Days: days, Start: start, End: end})
	}
	err := rules.CheckSyncWindow(*sw)
	var fe *rules.FieldError
	switch {
	case err == nil:
		return sw, ""
	case !errors.As(err, &fe):
		return nil, err.Error()
	}
	field := fe.Field
	if m := spanField.FindStringSubmatch(field); m != nil {
		n, _ := strconv.Atoi(m[1])
		field = fmt.Sprintf("span %d %s", rows[n]+1, m[2])
	}
	return nil, strings.TrimSpace(field) + " " + fe.Reason
}
