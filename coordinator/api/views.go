package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/api/paging"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/platform"
)

// apiTime formats a time as the API does: RFC 3339 in UTC with milliseconds.
// The zero time is "".
func apiTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// companyView is Codat's Company.
type companyView struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Description     string            `json:"description,omitempty"`
	Redirect        string            `json:"redirect"`
	LastSync        string            `json:"lastSync,omitempty"`
	Created         string            `json:"created"`
	Products        []string          `json:"products"`
	Tags            map[string]string `json:"tags,omitempty"`
	DataConnections []connectionView  `json:"dataConnections"`
}

// connectionView is Codat's Connection.
type connectionView struct {
	ID             string `json:"id"`
	IntegrationID  string `json:"integrationId"`
	IntegrationKey string `json:"integrationKey"`
	SourceID       string `json:"sourceId"`
	SourceType     string `json:"sourceType"`
	PlatformName   string `json:"platformName"`
	LinkURL        string `json:"linkUrl"`
	Status         string `json:"status"`
	LastSync       string `json:"lastSync,omitempty"`
	Created        string `json:"created"`
	// DataConnectionErrors are Codat's; absent when the connection never
	// had one.
	DataConnectionErrors []connectionErrorView `json:"dataConnectionErrors,omitempty"`
	ConnectionInfo       map[string]any        `json:"connectionInfo,omitempty"`
	// Paused and PausedSince are Ferry's: the client paused the
	// connection (POST .../pause), and when.
	Paused      bool   `json:"paused"`
	PausedSince string `json:"pausedSince,omitempty"`
}

// connectionErrorView is Codat's dataConnectionError.
type connectionErrorView struct {
	StatusCode   string `json:"statusCode"`
	StatusText   string `json:"statusText"`
	ErrorMessage string `json:"errorMessage"`
	ErroredOnUtc string `json:"erroredOnUtc"`
	Status       string `json:"status"`
	ResolvedOn   string `json:"resolvedOnUtc,omitempty"`
}

// connectionErrorsView is the view of a connection's errors; nil for none.
func connectionErrorsView(errs []store.ConnectionError) []connectionErrorView {
	var out []connectionErrorView
	for _, e := range errs {
		out = append(out, connectionErrorView{
			StatusCode: e.StatusCode, StatusText: e.StatusText, ErrorMessage: e.ErrorMessage,
			ErroredOnUtc: apiTime(e.ErroredOn), Status: string(e.Status), ResolvedOn: apiTime(e.ResolvedOn),
		})
	}
	return out
}

// pullOperation is Codat's PullOperation, with Ferry's timeline on the
// single-dataset endpoint.
type pullOperation struct {
	ID                string           `json:"id"`
	CompanyID         string           `json:"companyId"`
	ConnectionID      string           `json:"connectionId"`
	DataType          dataset.DataType `json:"dataType"`
	Status            dataset.Status   `json:"status"`
	StatusDescription string           `json:"statusDescription,omitempty"`
	ErrorMessage      string           `json:"errorMessage,omitempty"`
	Requested         string           `json:"requested"`
	Completed         string           `json:"completed,omitempty"`
	Progress          int              `json:"progress"`
	IsCompleted       bool             `json:"isCompleted"`
	IsErrored         bool             `json:"isErrored"`
	Attempt           int              `json:"attempt"`
	Timeline          []timelineEntry  `json:"timeline,omitempty"`
}

type timelineEntry struct {
	At      string         `json:"at"`
	From    dataset.Status `json:"from,omitempty"`
	To      dataset.Status `json:"to"`
	Actor   string         `json:"actor"`
	Attempt int            `json:"attempt"`
	Message string         `json:"message,omitempty"`
}

// dataStatusView is Codat's DataStatus; fields that do not apply are absent.
type dataStatusView struct {
	DataType               dataset.DataType `json:"dataType"`
	CurrentStatus          dataset.Status   `json:"currentStatus,omitempty"`
	LatestSyncID           string           `json:"latestSyncId,omitempty"`
	LastSuccessfulSync     string           `json:"lastSuccessfulSync,omitempty"`
	LatestSuccessfulSyncID string           `json:"latestSuccessfulSyncId,omitempty"`
}

// The link URLs are capabilities (whoever holds one may ask for a link
// code), so only a client key sees them whole: a support key sees each page's
// address without its token, which names the page and opens nothing.

func (s *Server) companyView(r *http.Request, c store.Company, conns []store.Connection) companyView {
	v := companyView{
		ID: c.ID, Name: c.Name, Description: c.Description, Tags: c.Tags,
		Redirect: s.links.BareCompanyURL(c.ID),
		Created:  apiTime(c.Created), Products: []string{"ferry"},
		DataConnections: make([]connectionView, 0, len(conns)),
	}
	if scopeOf(r) == store.ScopeClient {
		v.Redirect = s.links.CompanyURL(c.ID)
	}
	var last time.Time
	for _, cn := range conns {
		v.DataConnections = append(v.DataConnections, s.connectionView(r, cn))
		if cn.LastSync.After(last) {
			last = cn.LastSync
		}
	}
	v.LastSync = apiTime(last)
	return v
}

// connectionView is the connection as r's key may see it. The link code
// itself is never in it: only the calls that issue one add it (withCode).
func (s *Server) connectionView(r *http.Request, c store.Connection) connectionView {
	integ, _ := platform.Lookup(c.PlatformKey)
	v := connectionView{
		ID: c.ID, IntegrationID: integ.ID, IntegrationKey: integ.Key, SourceID: integ.SourceID,
		SourceType: "Accounting", PlatformName: integ.Name,
		LinkURL: s.links.BareConnectionURL(c.CompanyID, c.ID),
		Status:  string(c.Status), LastSync: apiTime(c.LastSync), Created: apiTime(c.Created),
		Paused: !c.PausedSince.IsZero(), PausedSince: apiTime(c.PausedSince),
		DataConnectionErrors: connectionErrorsView(c.Errors),
	}
	if scopeOf(r) == store.ScopeClient {
		v.LinkURL = s.links.ConnectionURL(c.CompanyID, c.ID)
	}
	info := map[string]any{}
	if c.Status != store.Linked && !c.LinkCodeExpires.IsZero() {
		info["linkCodeExpires"] = apiTime(c.LinkCodeExpires)
	}
	if c.AgentID != "" {
		info["agentId"] = c.AgentID
	}
	if len(info) > 0 {
		v.ConnectionInfo = info
	}
	return v
}

// withCode is the view of a connection whose link code was just issued:
// the one answer that shows the code.
func (s *Server) withCode(r *http.Request, c store.Connection, code string) connectionView {
	v := s.connectionView(r, c)
	if v.ConnectionInfo == nil {
		v.ConnectionInfo = map[string]any{}
	}
	v.ConnectionInfo["linkCode"] = code
	v.ConnectionInfo["linkCodeExpires"] = apiTime(c.LinkCodeExpires)
	return v
}

func pullOperationView(d store.Dataset, withTimeline bool) pullOperation {
	v := pullOperation{
		ID: d.ID, CompanyID: d.CompanyID, ConnectionID: d.ConnectionID, DataType: d.DataType,
		Status: d.Status, ErrorMessage: d.ErrorMessage, Requested: apiTime(d.Requested),
		Completed: apiTime(d.Completed), Progress: d.Progress, Attempt: d.Attempt,
		IsCompleted: d.Status == dataset.Complete, IsErrored: d.Status.IsError(),
	}
	switch {
	case d.Status == dataset.Queued && d.Attempt > 1:
		v.StatusDescription = fmt.Sprintf("waiting for the agent; attempt %d of %d", d.Attempt, store.MaxAttempts)
	case len(d.Warnings) > 0:
		v.StatusDescription = warningsDescription(d.Warnings)
	}
	if withTimeline {
		v.Timeline = make([]timelineEntry, len(d.Timeline))
		for i, t := range d.Timeline {
			v.Timeline[i] = timelineEntry{At: apiTime(t.At), From: t.From, To: t.To, Actor: t.Actor, Attempt: t.Attempt, Message: t.Message}
		}
	}
	return v
}

// warningsDescription is the statusDescription of a dataset whose agent
// sent warnings: their messages, one after the other.
func warningsDescription(ws []store.Warning) string {
	msgs := make([]string, len(ws))
	for i, w := range ws {
		msgs[i] = strings.TrimSpace(w.Message)
		if !strings.HasSuffix(msgs[i], ".") {
			msgs[i] += "."
		}
	}
	return strings.Join(msgs, " ")
}

// pageBody is the paged list shape: results plus Codat's PagingInfo.
type pageBody struct {
	Results      []map[string]any `json:"results"`
	PageNumber   int              `json:"pageNumber"`
	PageSize     int              `json:"pageSize"`
	TotalResults int              `json:"totalResults"`
	Links        paging.Links     `json:"_links"`
}

// writePage filters, orders and pages items by the request's paging
// parameters and writes the page. Items are matched on their JSON form, so
// a query names fields as the API shows them.
func writePage[T any](w http.ResponseWriter, r *http.Request, items []T) error {
	p, err := paging.Parse(r.URL.Query())
	if err != nil {
		return err
	}
	recs := make([]map[string]any, len(items))
	for i, it := range items {
		if recs[i], err = asMap(it); err != nil {
			return err
		}
	}
	page, total := paging.Apply(recs, p)
	if page == nil {
		page = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, pageBody{
		Results: page, PageNumber: p.Page, PageSize: p.PageSize, TotalResults: total,
		Links: paging.MakeLinks(r.URL.Path, p, total),
	})
	return nil
}

func asMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	return m, dec.Decode(&m)
}
