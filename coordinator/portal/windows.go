package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Pauses and sync windows on the company page. The Portal edits a
// connection's own window as one span (days, start, end in a zone), or
// sets "any time", or removes it so the company's or the client's
// applies; windows of several spans, and the company's and the client's,
// are set through the API (and shown here as they are).

// windowView is the window in force for a connection, for the page.
type windowView struct {
	// Source is where it comes from; Own: the connection's own.
	Source store.WindowSource
	Own    bool
	// Summary is the window in words ("any time", or its spans).
	Summary string
	// The first span, to fill in the form.
	TimeZone, Start, End string
	Days                 map[string]bool
	// Opens is when a closed window opens; zero when open now.
	Opens time.Time
}

// weekdays are the days in the form's order.
var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// window reads the connection's gate for the page; a gate that cannot be
// read shows as none.
func (h *Handler) window(ctx context.Context, connectionID string) windowView {
	g, err := h.store.SyncGate(ctx, connectionID)
	if err != nil {
		return windowView{Source: store.WindowNone, Summary: "any time", TimeZone: "UTC"}
	}
	v := windowView{Source: g.Source, Own: g.Source == store.WindowOfConnection, Summary: "any time", TimeZone: "UTC", Days: map[string]bool{}}
	if w := g.Window; w != nil {
		v.TimeZone = w.TimeZone
		if len(w.Windows) > 0 {
			spans := make([]string, len(w.Windows))
			for i, s := range w.Windows {
				spans[i] = strings.Join(s.Days, ", ") + " " + s.Start + "–" + s.End
			}
			v.Summary = strings.Join(spans, "; ") + " (" + w.TimeZone + ")"
			v.Start, v.End = w.Windows[0].Start, w.Windows[0].End
			for _, d := range w.Windows[0].Days {
				v.Days[d] = true
			}
		}
	}
	if hold := rules.HoldAt(store.SyncGate{Window: g.Window, Source: g.Source}, h.now()); hold.Held() {
		v.Opens = hold.Opens
	}
	return v
}

// connectionForm checks that the session may change the connection and
// returns its company's and its ids; false when it answered instead.
func (h *Handler) connectionForm(w http.ResponseWriter, r *http.Request, s *session, what string) (string, string, bool) {
	if s.scope != store.ScopeClient {
		h.fail(w, r, s, http.StatusForbidden, "A "+string(s.scope)+" key may not "+what+".")
		return "", "", false
	}
	return r.PathValue("companyId"), r.PathValue("connectionId"), true
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
	co, id, ok := h.connectionForm(w, r, s, "pause syncs")
	if !ok {
		return
	}
	now := h.now().UTC()
	h.changeConnection(w, r, s, co, id, "Connection paused: nothing syncs until it is resumed.", func(c *store.Connection) error {
		if c.PausedSince.IsZero() {
			c.PausedSince = now
		}
		return nil
	})
}

func (h *Handler) resume(w http.ResponseWriter, r *http.Request, s *session) {
	co, id, ok := h.connectionForm(w, r, s, "resume syncs")
	if !ok {
		return
	}
	h.changeConnection(w, r, s, co, id, "Connection resumed.", func(c *store.Connection) error {
		c.PausedSince = time.Time{}
		return nil
	})
}

// setWindow sets the connection's own window from the form: action
// "span" (timeZone, days, start, end), "any" (any time) or "inherit"
// (remove its own). A bad field is a message naming it, as the API's 400.
func (h *Handler) setWindow(w http.ResponseWriter, r *http.Request, s *session) {
	co, id, ok := h.connectionForm(w, r, s, "set sync windows")
	if !ok {
		return
	}
	f := r.PostForm
	var sw *store.SyncWindow
	switch f.Get("action") {
	case "span":
		sw = &store.SyncWindow{TimeZone: strings.TrimSpace(f.Get("timeZone")), Windows: []store.Window{
			{Days: f["days"], Start: f.Get("start"), End: f.Get("end")},
		}}
	case "any":
		sw = &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{}}
	case "inherit":
	default:
		h.fail(w, r, s, http.StatusBadRequest, "Unknown sync window action.")
		return
	}
	if sw != nil {
		if err := rules.CheckSyncWindow(*sw); err != nil {
			var fe *rules.FieldError
			if !errors.As(err, &fe) {
				h.internal(w, r, s, err)
				return
			}
			h.sessions.setFlash(r.Context(), s, fmt.Sprintf("Sync window not set: %s %s.", strings.TrimPrefix(fe.Field, "windows[0]."), fe.Reason), true)
			http.Redirect(w, r, "/portal/companies/"+co, http.StatusSeeOther)
			return
		}
	}
	msg := "Sync window set."
	if sw == nil {
		msg = "The connection follows its company's or the client's sync window again."
	}
	h.changeConnection(w, r, s, co, id, msg, func(c *store.Connection) error {
		c.SyncWindow = sw
		return nil
	})
}
