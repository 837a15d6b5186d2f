package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Sync windows and pauses: Ferry's own shapes (Codat has none for them).
//
// A window is read and written at three levels: the client's default
// (/profile/syncWindow), a company's (/companies/{id}/syncWindow) and a
// connection's (.../connections/{id}/syncWindow). The narrowest set is in
// force, whole: a connection's own overrides its company's, which
// overrides the client's (rules.EffectiveWindow); DELETE removes a level's
// own, so the next one applies again.

// syncWindowView is a window as the API shows it: the one in force at the
// level asked, and where it comes from.
type syncWindowView struct {
	TimeZone    string             `json:"timeZone"`
	Windows     []store.Window     `json:"windows"`
	AppliesFrom store.WindowSource `json:"appliesFrom"`
}

func windowView(w *store.SyncWindow, from store.WindowSource) syncWindowView {
	if w == nil {
		return syncWindowView{TimeZone: "UTC", Windows: []store.Window{}, AppliesFrom: store.WindowNone}
	}
	v := syncWindowView{TimeZone: w.TimeZone, Windows: w.Windows, AppliesFrom: from}
	if v.Windows == nil {
		v.Windows = []store.Window{}
	}
	for i := range v.Windows {
		if v.Windows[i].Days == nil {
			v.Windows[i].Days = []string{}
		}
	}
	return v
}

// syncWindowBody is the body of a PUT: appliesFrom is accepted (so a GET's
// answer can be sent back as it is) and ignored.
type syncWindowBody struct {
	TimeZone    *string        `json:"timeZone"`
	Windows     []store.Window `json:"windows"`
	AppliesFrom *string        `json:"appliesFrom"`
}

// readWindow decodes and checks a PUT's window; a 400 names the field.
func readWindow(w http.ResponseWriter, r *http.Request) (*store.SyncWindow, error) {
	var b syncWindowBody
	if err := decodeBody(w, r, &b); err != nil {
		return nil, err
	}
	if b.TimeZone == nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidField, "timeZone is required (an IANA name, such as \"Europe/London\")")
	}
	if b.Windows == nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidField, "windows is required (an empty list: any time)")
	}
	sw := &store.SyncWindow{TimeZone: *b.TimeZone, Windows: b.Windows}
	if err := rules.CheckSyncWindow(*sw); err != nil {
		var fe *rules.FieldError
		if errors.As(err, &fe) {
			return nil, errorf(http.StatusBadRequest, CodeInvalidField, "%s %s", fe.Field, fe.Reason)
		}
		return nil, err
	}
	return sw, nil
}

func (s *Server) getProfileSyncWindow(w http.ResponseWriter, r *http.Request) error {
	sw, err := s.store.ProfileSyncWindow(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, windowView(sw, store.WindowOfClient))
	return nil
}

func (s *Server) putProfileSyncWindow(w http.ResponseWriter, r *http.Request) error {
	sw, err := readWindow(w, r)
	if err != nil {
		return err
	}
	return s.setProfileWindow(w, r, sw)
}

func (s *Server) deleteProfileSyncWindow(w http.ResponseWriter, r *http.Request) error {
	return s.setProfileWindow(w, r, nil)
}

func (s *Server) setProfileWindow(w http.ResponseWriter, r *http.Request, sw *store.SyncWindow) error {
	if err := s.store.SetProfileSyncWindow(r.Context(), sw); err != nil {
		return err
	}
	s.log.Info("client sync window set", "window", sw != nil)
	writeJSON(w, http.StatusOK, windowView(sw, store.WindowOfClient))
	return nil
}

// companyWindow is the window in force for a company's connections that
// set none of their own.
func (s *Server) companyWindow(ctx context.Context, c store.Company) (syncWindowView, error) {
	client, err := s.store.ProfileSyncWindow(ctx)
	if err != nil {
		return syncWindowView{}, err
	}
	return windowView(rules.EffectiveWindow(nil, c.SyncWindow, client)), nil
}

func (s *Server) getCompanySyncWindow(w http.ResponseWriter, r *http.Request) error {
	c, err := s.store.Company(r.Context(), r.PathValue("companyId"))
	if err != nil {
		return err
	}
	v, err := s.companyWindow(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) putCompanySyncWindow(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.store.Company(r.Context(), r.PathValue("companyId")); err != nil {
		return err
	}
	sw, err := readWindow(w, r)
	if err != nil {
		return err
	}
	return s.setCompanyWindow(w, r, sw)
}

func (s *Server) deleteCompanySyncWindow(w http.ResponseWriter, r *http.Request) error {
	return s.setCompanyWindow(w, r, nil)
}

func (s *Server) setCompanyWindow(w http.ResponseWriter, r *http.Request, sw *store.SyncWindow) error {
	companyID := r.PathValue("companyId")
	c, err := s.store.UpdateCompany(r.Context(), companyID, func(c *store.Company) error {
		c.SyncWindow = sw
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("company sync window set", "company", companyID, "window", sw != nil)
	v, err := s.companyWindow(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) getConnectionSyncWindow(w http.ResponseWriter, r *http.Request) error {
	companyID, id := r.PathValue("companyId"), r.PathValue("connectionId")
	if _, err := s.store.Connection(r.Context(), companyID, id); err != nil {
		return err
	}
	g, err := s.store.SyncGate(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, windowView(g.Window, g.Source))
	return nil
}

func (s *Server) putConnectionSyncWindow(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.store.Connection(r.Context(), r.PathValue("companyId"), r.PathValue("connectionId")); err != nil {
		return err
	}
	sw, err := readWindow(w, r)
	if err != nil {
		return err
	}
	return s.setConnectionWindow(w, r, sw)
}

func (s *Server) deleteConnectionSyncWindow(w http.ResponseWriter, r *http.Request) error {
	return s.setConnectionWindow(w, r, nil)
}

func (s *Server) setConnectionWindow(w http.ResponseWriter, r *http.Request, sw *store.SyncWindow) error {
	companyID, id := r.PathValue("companyId"), r.PathValue("connectionId")
	if _, err := s.store.UpdateConnection(r.Context(), companyID, id, func(c *store.Connection) error {
		c.SyncWindow = sw
		return nil
	}); err != nil {
		return err
	}
	s.log.Info("connection sync window set", "company", companyID, "connection", id, "window", sw != nil)
	return s.getConnectionSyncWindow(w, r)
}

// pauseConnection pauses a connection: nothing is offered for it until it
// is resumed. Pausing a paused connection keeps its first pausedSince.
func (s *Server) pauseConnection(w http.ResponseWriter, r *http.Request) error {
	now := s.now().UTC()
	return s.setPaused(w, r, func(c *store.Connection) {
		if c.PausedSince.IsZero() {
			c.PausedSince = now
		}
	})
}

// resumeConnection resumes a connection; what waits is offered at once
// (inside its window). Resuming one not paused changes nothing.
func (s *Server) resumeConnection(w http.ResponseWriter, r *http.Request) error {
	return s.setPaused(w, r, func(c *store.Connection) { c.PausedSince = time.Time{} })
}

func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, fn func(*store.Connection)) error {
	companyID, id := r.PathValue("companyId"), r.PathValue("connectionId")
	c, err := s.store.UpdateConnection(r.Context(), companyID, id, func(c *store.Connection) error {
		fn(c)
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("connection pause set", "company", companyID, "connection", id, "paused", !c.PausedSince.IsZero())
	writeJSON(w, http.StatusOK, s.connectionView(r, c))
	return nil
}

// holds describes what holds the Queued datasets of a request's answer,
// reading each connection's gate once.
type holds struct {
	s     *Server
	ctx   context.Context
	gates map[string]rules.Hold
}

func (s *Server) holds(ctx context.Context) *holds {
	return &holds{s: s, ctx: ctx, gates: map[string]rules.Hold{}}
}

// describe sets v's statusDescription when d is Queued and held by a
// pause or a closed window. A gate that cannot be read leaves it as it is.
func (h *holds) describe(d store.Dataset, v *pullOperation) {
	if d.Status != dataset.Queued {
		return
	}
	hold, ok := h.gates[d.ConnectionID]
	if !ok {
		g, err := h.s.store.SyncGate(h.ctx, d.ConnectionID)
		if err != nil {
			return
		}
		hold = rules.HoldAt(g, h.s.now())
		h.gates[d.ConnectionID] = hold
	}
	if desc := hold.Description(); desc != "" {
		v.StatusDescription = desc
	}
}
