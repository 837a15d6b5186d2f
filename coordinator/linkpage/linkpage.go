// Package linkpage serves the page an end user opens from a connection's
// linkUrl: how to install the agent and the one-time link code to type, and
// a new code when the old one expired or the connection was disconnected.
package linkpage

import (
	"context"
	_ "embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("link").Parse(pageHTML))

// Handler serves GET /link/{companyId}/{connectionId} and POST
// /link/{companyId}/{connectionId}/code.
type Handler struct {
	Store     store.Store
	Logger    *slog.Logger
	PublicURL string
	Now       func() time.Time
	CodeTTL   time.Duration
	// Downloads is the directory of the agent's installers (what make
	// installers builds), served at /downloads/ and offered on the page;
	// "" serves none and the page says where to get them.
	Downloads string
	mux       *http.ServeMux
}

// New builds the handler.
func New(st store.Store, log *slog.Logger, publicURL string, codeTTL time.Duration) *Handler {
	h := &Handler{Store: st, Logger: log, PublicURL: publicURL, Now: time.Now, CodeTTL: codeTTL, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /link/{companyId}", h.company)
	h.mux.HandleFunc("GET /link/{companyId}/{connectionId}", h.show)
	h.mux.HandleFunc("POST /link/{companyId}/{connectionId}/code", h.newCode)
	h.mux.HandleFunc("GET /downloads/{file}", h.serveDownload)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	if !strings.HasPrefix(r.URL.Path, "/downloads/") {
		w.Header().Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

type view struct {
	Company, Platform, PlatformKey, Status, Code, Expires    string
	Coordinator, ExamplePath, ExamplePathWindows, NewCodeURL string
	Downloads                                                []download
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	co, conn, ok := h.load(w, r)
	if !ok {
		return
	}
	integ, _ := queue.Integration(conn.PlatformKey)
	v := view{
		Company: co.Name, Platform: integ.Name, PlatformKey: conn.PlatformKey, Status: string(conn.Status),
		Coordinator: h.PublicURL, NewCodeURL: r.URL.Path + "/code",
		ExamplePath: "/home/you/accounts.gnucash", ExamplePathWindows: `"C:\Users\you\Documents\accounts.gnucash"`,
	}
	if conn.PlatformKey == "csv" {
		v.ExamplePath, v.ExamplePathWindows = "/home/you/exports", `"C:\Users\you\Documents\exports"`
	}
	if conn.Status != store.Linked && conn.LinkCode != "" && h.Now().Before(conn.LinkCodeExpires) {
		v.Code, v.Expires = conn.LinkCode, conn.LinkCodeExpires.UTC().Format("2 January 2006 at 15:04 UTC")
		v.Downloads = h.downloads(v)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, v); err != nil {
		h.Logger.Error("render link page", "err", err)
	}
}

var companyPage = template.Must(template.New("company").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect {{.Name}} to Ferry</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}</style></head>
<body><h1>Connect {{.Name}} to Ferry</h1>
{{range .Conns}}<p><a href="/link/{{.CompanyID}}/{{.ID}}">{{.PlatformKey}} connection</a> — {{.Status}}</p>
{{else}}<p>There is nothing to connect yet.</p>{{end}}
</body></html>`))

// company lists a company's connections, each with its link page: the
// Company's redirect URL.
func (h *Handler) company(w http.ResponseWriter, r *http.Request) {
	co, err := h.Store.Company(r.Context(), r.PathValue("companyId"))
	var conns []store.Connection
	if err == nil {
		conns, err = h.Store.Connections(r.Context(), co.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := companyPage.Execute(w, struct {
		Name  string
		Conns []store.Connection
	}{co.Name, conns}); err != nil {
		h.Logger.Error("render company link page", "err", err)
	}
}

// newCode issues a fresh code for a connection that is not Linked, and
// shows the page again.
func (h *Handler) newCode(w http.ResponseWriter, r *http.Request) {
	_, conn, ok := h.load(w, r)
	if !ok {
		return
	}
	if conn.Status == store.Linked {
		http.Redirect(w, r, "/link/"+conn.CompanyID+"/"+conn.ID, http.StatusSeeOther)
		return
	}
	code, hash := linkcode.New()
	exp := h.Now().UTC().Add(h.CodeTTL)
	_, err := h.Store.ReplaceLinkCode(r.Context(), conn.CompanyID, conn.ID,
		store.LinkCode{Hash: hash, CompanyID: conn.CompanyID, ConnectionID: conn.ID, Expires: exp}, code)
	if err != nil && !errors.Is(err, store.ErrLinked) {
		h.Logger.Error("new link code", "connection", conn.ID, "err", err)
		http.Error(w, "Something went wrong; try again.", http.StatusInternalServerError)
		return
	}
	h.Logger.Info("new link code issued", "company", conn.CompanyID, "connection", conn.ID)
	http.Redirect(w, r, "/link/"+conn.CompanyID+"/"+conn.ID, http.StatusSeeOther)
}

func (h *Handler) load(w http.ResponseWriter, r *http.Request) (store.Company, store.Connection, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	co, err := h.Store.Company(ctx, r.PathValue("companyId"))
	if err == nil {
		var conn store.Connection
		conn, err = h.Store.Connection(ctx, co.ID, r.PathValue("connectionId"))
		if err == nil {
			return co, conn, true
		}
	}
	h.fail(w, err)
	return store.Company{}, store.Connection{}, false
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "This link is not valid. Ask whoever sent it for a new one.", http.StatusNotFound)
		return
	}
	h.Logger.Error("link page", "err", err)
	http.Error(w, "Something went wrong; try again.", http.StatusInternalServerError)
}
