package portal

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/platform"
)

// recentDatasets is how many datasets the company page lists.
const recentDatasets = 20

func (h *Handler) companies(w http.ResponseWriter, r *http.Request, s *session) {
	all, err := h.store.Companies(r.Context())
	if err != nil {
		h.internal(w, r, s, err)
		return
	}
	slices.SortStableFunc(all, func(a, b store.Company) int { return b.Created.Compare(a.Created) })
	h.render(w, r, http.StatusOK, "companies", h.signedPage(r.Context(), s, "Companies", all))
}

type companyData struct {
	Company store.Company
	// Window is the company's sync window (its own, or the client's).
	Window windowView
	Conns  []connView
	Live   liveData
	// Strips are the 30-day strips of the connections' agents, Defs their
	// patterns.
	Strips []connStrip
	Defs   template.HTML
}

// connStrip is a connection's agent's strip.
type connStrip struct {
	ConnectionID, AgentID string
	Strip                 stripView
}

// liveData is the part of the company page the live stream replaces: the
// data status and the recent syncs.
type liveData struct {
	Status statusData
	Recent []store.Dataset
	// More is how many older datasets are not listed.
	More int
}

type connView struct {
	store.Connection
	Platform string
	// LinkURL is the link page with its token: client keys only (a support
	// key could ask for a code with it).
	LinkURL string
	// CodeExpires is when the outstanding link code expires; zero when
	// there is none (or the connection is Linked).
	CodeExpires time.Time
	// CanIssue: the key may issue a new code here (client, not Linked).
	CanIssue bool
	CSRF     string
	// AgentOnline: the bound agent has a live connection.
	AgentOnline bool
	// Window is the sync window in force and where it comes from
	// (windows.go); Own: the connection set its own.
	Window windowView
}

// statusData is the live fragment: one row per data type of the sync
// settings, with its queue button.
type statusData struct {
	CompanyID string
	CSRF      string
	CanQueue  bool
	Rows      []statusRow
	// Choices are the connections a type can be queued on, when there is
	// more than one; the queue buttons then ask which.
	Choices []connChoice
}

type connChoice struct{ ID, Label string }

type statusRow struct {
	DataType dataset.DataType
	// Latest is the newest dataset of the type; nil when never synced.
	Latest *store.Dataset
	// LastSuccess is the newest Complete one; nil when none.
	LastSuccess *store.Dataset
	InProgress  bool
}

func (h *Handler) company(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	co, err := h.store.Company(ctx, r.PathValue("companyId"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	}
	d := companyData{Company: co}
	d.Window, err = h.companyWindow(ctx, co, s)
	var conns []store.Connection
	if err == nil {
		conns, err = h.store.Connections(ctx, co.ID)
	}
	if err == nil {
		d.Conns = h.connViews(r.Context(), conns, s)
		d.Live.Status, err = h.statusData(ctx, co.ID, s)
	}
	if err == nil {
		err = h.recent(ctx, &d.Live)
	}
	for _, c := range conns {
		if err != nil || c.AgentID == "" {
			continue
		}
		var st stripView
		st, err = h.agentStrip(ctx, c.AgentID)
		if errors.Is(err, store.ErrNotFound) {
			err = nil // bound to an agent since deleted
			continue
		}
		d.Strips, d.Defs = append(d.Strips, connStrip{ConnectionID: c.ID, AgentID: c.AgentID, Strip: st}), stripDefs
	}
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	}
	h.render(w, r, http.StatusOK, "company", h.signedPage(r.Context(), s, co.Name, d))
}

// recent fills in the company's newest datasets.
func (h *Handler) recent(ctx context.Context, d *liveData) error {
	all, err := h.store.Datasets(ctx, d.Status.CompanyID)
	if err != nil {
		return err
	}
	d.Recent, d.More = all, 0
	if len(all) > recentDatasets {
		d.Recent, d.More = all[:recentDatasets], len(all)-recentDatasets
	}
	return nil
}

func (h *Handler) connViews(ctx context.Context, conns []store.Connection, s *session) []connView {
	out := make([]connView, len(conns))
	client := s.scope == store.ScopeClient
	for i, c := range conns {
		integ, _ := platform.Lookup(c.PlatformKey)
		v := connView{Connection: c, Platform: integ.Name, AgentOnline: h.online(ctx, c.AgentID), Window: h.connectionWindow(ctx, c, s)}
		if client {
			v.LinkURL, v.CSRF = h.links.ConnectionURL(c.CompanyID, c.ID), s.csrf
			v.CanIssue = c.Status != store.Linked
		}
		if c.Status != store.Linked && h.now().Before(c.LinkCodeExpires) {
			v.CodeExpires = c.LinkCodeExpires
		}
		out[i] = v
	}
	return out
}

type linkCodeData struct {
	Company  store.Company
	Conn     connView
	Code     string
	Expires  time.Time
	Replaced bool
}

// newLinkCode issues a fresh link code for a connection that is not Linked
// (a client key only) and shows it on the answer, this once: only its
// hash is kept. As the API's, it may link an Unlinked connection again:
// the client is acting.
func (h *Handler) newLinkCode(w http.ResponseWriter, r *http.Request, s *session) {
	if s.scope != store.ScopeClient {
		h.fail(w, r, s, http.StatusForbidden, "A "+string(s.scope)+" key may not issue link codes.")
		return
	}
	ctx := r.Context()
	co, err := h.store.Company(ctx, r.PathValue("companyId"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	}
	connID := r.PathValue("connectionId")
	code, hash := linkcode.New()
	exp := h.now().UTC().Add(h.codeTTL)
	c, err := h.store.ReplaceLinkCode(ctx, co.ID, connID, store.LinkCode{Hash: hash, CompanyID: co.ID, ConnectionID: connID, Expires: exp},
		store.PendingAuth, store.Deauthorized, store.Unlinked)
	if errors.Is(err, store.ErrLinked) {
		h.sessions.setFlash(r.Context(), s, "No link code issued: the connection is Linked.", true)
		http.Redirect(w, r, "/portal/companies/"+co.ID, http.StatusSeeOther)
		return
	}
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such connection.")
		return
	}
	h.log.Info("link code issued in the Portal", "company", co.ID, "connection", c.ID, "apiKey", s.keyID)
	views := h.connViews(r.Context(), []store.Connection{c}, s)
	h.render(w, r, http.StatusOK, "linkcode", h.signedPage(r.Context(), s, "Link code", linkCodeData{Company: co, Conn: views[0], Code: code, Expires: exp}))
}

// statusData is the company's data status, as the API's dataStatus: one
// row per data type in the sync settings.
func (h *Handler) statusData(ctx context.Context, companyID string, s *session) (statusData, error) {
	statuses, err := h.store.DataStatus(ctx, companyID)
	if err != nil {
		return statusData{}, err
	}
	settings, err := h.queuer.Settings(ctx, companyID)
	if err != nil {
		return statusData{}, fmt.Errorf("sync settings: %w", err)
	}
	d := statusData{CompanyID: companyID, CSRF: s.csrf, CanQueue: s.scope == store.ScopeClient}
	if d.CanQueue {
		if d.Choices, err = h.connChoices(ctx, companyID); err != nil {
			return statusData{}, err
		}
	}
	for _, set := range settings {
		row := statusRow{DataType: set.DataType}
		if st, ok := statuses[set.DataType]; ok {
			latest := st.Latest
			row.Latest, row.LastSuccess = &latest, st.LatestSuccessful
			row.InProgress = !latest.Status.Terminal()
		}
		d.Rows = append(d.Rows, row)
	}
	return d, nil
}

// connChoices lists the company's connections that are not Unlinked,
// when there are several.
func (h *Handler) connChoices(ctx context.Context, companyID string) ([]connChoice, error) {
	conns, err := h.store.Connections(ctx, companyID)
	if err != nil {
		return nil, err
	}
	var out []connChoice
	for _, c := range conns {
		if c.Status == store.Unlinked {
			continue
		}
		integ, _ := platform.Lookup(c.PlatformKey)
		out = append(out, connChoice{ID: c.ID, Label: fmt.Sprintf("%s (%s, %.8s)", integ.Name, c.Status, c.ID)})
	}
	if len(out) < 2 {
		return nil, nil
	}
	return out, nil
}

func (h *Handler) queueOne(w http.ResponseWriter, r *http.Request, s *session) {
	companyID, ok := h.queueable(w, r, s)
	if !ok {
		return
	}
	dt := dataset.DataType(r.PathValue("dataType"))
	if !dt.Valid() {
		h.fail(w, r, s, http.StatusNotFound, "There is no such data type.")
		return
	}
	connectionID := r.PostForm.Get("connectionId")
	if len(connectionID) > 128 {
		h.fail(w, r, s, http.StatusNotFound, "There is no such connection.")
		return
	}
	ds, err := h.queuer.Queue(r.Context(), companyID, dt, connectionID, "queued in the Portal")
	h.afterQueue(w, r, s, companyID, err, func() string {
		h.log.Info("dataset queued", "company", companyID, "dataset", ds.ID, "dataType", dt, "apiKey", s.keyID)
		if ds.Status != dataset.Queued {
			return fmt.Sprintf("%s: %s %s", dt, ds.Status, ds.ErrorMessage)
		}
		return fmt.Sprintf("%s queued.", dt)
	})
}

func (h *Handler) queueAll(w http.ResponseWriter, r *http.Request, s *session) {
	companyID, ok := h.queueable(w, r, s)
	if !ok {
		return
	}
	queued, err := h.queuer.QueueAll(r.Context(), companyID, "", "queued in the Portal (all)")
	h.afterQueue(w, r, s, companyID, err, func() string {
		h.log.Info("datasets queued", "company", companyID, "count", len(queued), "apiKey", s.keyID)
		if len(queued) == 0 {
			return "Nothing queued: every data type is already in progress."
		}
		return fmt.Sprintf("%d data types queued.", len(queued))
	})
}

// queueable checks that the session may queue and the company exists.
func (h *Handler) queueable(w http.ResponseWriter, r *http.Request, s *session) (string, bool) {
	if s.scope != store.ScopeClient {
		h.fail(w, r, s, http.StatusForbidden, "A "+string(s.scope)+" key may not queue syncs.")
		return "", false
	}
	co, err := h.store.Company(r.Context(), r.PathValue("companyId"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return "", false
	}
	return co.ID, true
}

// afterQueue tells the user what happened, on the company page
// (post/redirect/get). A refusal by the queueing rules is a message, not an
// error page: the same rules as the API's 409s.
func (h *Handler) afterQueue(w http.ResponseWriter, r *http.Request, s *session, companyID string, err error, ok func() string) {
	var busy *store.InProgressError
	switch {
	case err == nil:
		h.sessions.setFlash(r.Context(), s, ok(), false)
	case errors.As(err, &busy):
		h.sessions.setFlash(r.Context(), s, fmt.Sprintf("Already in progress: dataset %s is %s.", busy.DatasetID, busy.Status), true)
	case errors.Is(err, store.ErrNoConnection), errors.Is(err, store.ErrAmbiguous):
		h.sessions.setFlash(r.Context(), s, "Not queued: "+err.Error()+".", true)
	case errors.Is(err, store.ErrUnlinked):
		h.sessions.setFlash(r.Context(), s, "Not queued: the connection is unlinked.", true)
	default:
		h.storeFail(w, r, s, err, "There is no such company or connection.")
		return
	}
	http.Redirect(w, r, "/portal/companies/"+companyID, http.StatusSeeOther)
}

type datasetData struct {
	Company    store.Company
	Dataset    store.Dataset
	Validation store.ValidationResult
}

func (h *Handler) datasetPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := h.datasetData(r)
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such dataset.")
		return
	}
	h.render(w, r, http.StatusOK, "dataset", h.signedPage(r.Context(), s, string(d.Dataset.DataType)+" sync", d))
}

// datasetData reads the request's company, dataset and validation results.
func (h *Handler) datasetData(r *http.Request) (datasetData, error) {
	ctx := r.Context()
	var d datasetData
	co, err := h.store.Company(ctx, r.PathValue("companyId"))
	if err != nil {
		return d, err
	}
	d.Company = co
	if d.Dataset, err = h.store.Dataset(ctx, co.ID, r.PathValue("datasetId")); err != nil {
		return d, err
	}
	d.Validation, err = h.store.Validation(ctx, co.ID, d.Dataset.ID)
	return d, err
}

// storeFail answers 404 with msg for ErrNotFound, 500 otherwise.
func (h *Handler) storeFail(w http.ResponseWriter, r *http.Request, s *session, err error, msg string) {
	if errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, s, http.StatusNotFound, msg)
		return
	}
	h.internal(w, r, s, err)
}

// online reports whether a replica holds the agent's control channel
// (false for no agent, or when the store cannot say).
func (h *Handler) online(ctx context.Context, agentID string) bool {
	if agentID == "" {
		return false
	}
	ch, err := h.store.Channel(ctx, agentID)
	if err != nil {
		h.log.Warn("read an agent's channel", "agent", agentID, "err", err)
	}
	return ch.Replica != ""
}
