// Package linkpage serves the page an end user opens from a connection's
// linkUrl: how to install the agent, and a button that issues the one-time
// link code to type, shown once.
//
// The link URL is a capability: its token (linkcode.Links) opens the page,
// and a page without the right token is 404, the same as a connection that
// does not exist. A code is issued only for a PendingAuth or Deauthorized
// connection (never an Unlinked one: the client's unlink stands until the
// client acts), only to a post from the page itself (same origin, and a
// CSRF token bound to a cookie the page set), and at most codeRequests
// times per address in each codeWindow.
package linkpage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/platform"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("link").Parse(pageHTML))

// Limits of the code button, per source address.
const (
	// codeRequests is how many posts for a code one address may make in a
	// codeWindow; past it, 429 with Retry-After.
	codeRequests = 20
	codeWindow   = 10 * time.Minute
	// maxForm bounds the code form's body: a token and a CSRF token.
	maxForm = 4 << 10
	// csrfCookie holds the nonce the page's CSRF token is derived from.
	csrfCookie = "ferry_link"
)

// Handler serves GET /link/{companyId}, GET /link/{companyId}/{connectionId}
// (each with ?token=) and POST /link/{companyId}/{connectionId}/code.
type Handler struct {
	Store   Store
	Logger  *slog.Logger
	Links   *linkcode.Links
	Now     func() time.Time
	CodeTTL time.Duration
	// Downloads is the directory of the agent's installers (what make
	// installers builds), served at /downloads/ and offered on the page;
	// "" serves none and the page says where to get them.
	Downloads string
	// secret keys the CSRF tokens: derived from the coordinator's, so a
	// page served by one replica posts to any.
	secret  []byte
	secure  bool
	origin  *http.CrossOriginProtection
	limiter *ratelimit.Limit
	mux     *http.ServeMux
}

// New builds the handler.
func New(st Store, log *slog.Logger, links *linkcode.Links, codeTTL time.Duration) *Handler {
	h := &Handler{Store: st, Logger: log, Links: links, Now: time.Now, CodeTTL: codeTTL,
		secret: links.Key("linkpage-csrf"), secure: strings.HasPrefix(links.Base(), "https://"),
		origin: http.NewCrossOriginProtection(), limiter: ratelimit.NewLimit(st, "linkcode", codeRequests, codeWindow, log), mux: http.NewServeMux()}
	_ = h.origin.AddTrustedOrigin(links.Base())
	h.mux.HandleFunc("GET /link/{companyId}", h.company)
	h.mux.HandleFunc("GET /link/{companyId}/{connectionId}", h.show)
	h.mux.HandleFunc("POST /link/{companyId}/{connectionId}/code", h.newCode)
	h.mux.HandleFunc("GET /downloads/{file}", h.serveDownload)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	// The page's URL is a capability: never send it on as a Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/downloads/") {
		w.Header().Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

type view struct {
	Company, Platform, PlatformKey, Status, Code, Expires    string
	Coordinator, ExamplePath, ExamplePathWindows, NewCodeURL string
	// Token and CSRF go into the code form.
	Token, CSRF string
	// PageURL is the page itself, token included: the code page's link
	// to go on once the agent is linked.
	PageURL string
	// CanIssue: the page offers a code (PendingAuth or Deauthorized).
	CanIssue bool
	// Outstanding is when a code issued earlier expires, while one does.
	Outstanding string
	// Message says why no code was issued.
	Message   string
	Downloads []download
}

// show serves a connection's page. Once the connection is Linked, the
// page sends the end user on to the client's redirect URL
// (rules.LinkRedirect: set, and its origin white-listed), or says that
// linking is done.
func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	co, conn, ok := h.load(w, r, token)
	if !ok {
		return
	}
	if conn.Status == store.Linked {
		p, err := h.Store.Profile(r.Context())
		if err != nil {
			h.fail(w, err)
			return
		}
		if to, ok := rules.LinkRedirect(p, co.ID); ok {
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
	}
	h.render(w, r, http.StatusOK, h.view(w, r, co, conn, token))
}

// view is the page of a connection, with the code form's tokens.
func (h *Handler) view(w http.ResponseWriter, r *http.Request, co store.Company, conn store.Connection, token string) view {
	integ, _ := platform.Lookup(conn.PlatformKey)
	v := view{
		Company: co.Name, Platform: integ.Name, PlatformKey: conn.PlatformKey, Status: string(conn.Status),
		Coordinator: h.Links.Base(), NewCodeURL: linkcode.ConnectionPath(conn.CompanyID, conn.ID) + "/code",
		ExamplePath: "/home/you/accounts.gnucash", ExamplePathWindows: `"C:\Users\you\Documents\accounts.gnucash"`,
		Token: token, CanIssue: issuable(conn.Status),
		PageURL: linkcode.ConnectionPath(conn.CompanyID, conn.ID) + "?token=" + url.QueryEscape(token),
	}
	if conn.PlatformKey == platform.CSV {
		v.ExamplePath, v.ExamplePathWindows = "/home/you/exports", `"C:\Users\you\Documents\exports"`
	}
	if v.CanIssue {
		v.Downloads = h.downloads(v)
		v.CSRF = h.csrf(w, r, conn)
		if h.Now().Before(conn.LinkCodeExpires) {
			v.Outstanding = conn.LinkCodeExpires.UTC().Format("2 January 2006 at 15:04 UTC")
		}
	}
	return v
}

// issuable: the link page may issue a code for a connection in this
// status. Unlinked is the client's withdrawal and stands until the client
// acts; Linked needs none.
func issuable(s store.ConnectionStatus) bool {
	return s == store.PendingAuth || s == store.Deauthorized
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := page.Execute(w, v); err != nil {
		h.Logger.Error("render link page", "err", err)
	}
}

var companyPage = template.Must(template.New("company").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect {{.Name}} to Ferry</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}</style></head>
<body><h1>Connect {{.Name}} to Ferry</h1>
{{range .Conns}}<p><a href="{{.URL}}">{{.PlatformKey}} connection</a> — {{.Status}}</p>
{{else}}<p>There is nothing to connect yet.</p>{{end}}
</body></html>`))

type companyConn struct {
	URL, PlatformKey string
	Status           store.ConnectionStatus
}

// company lists a company's connections, each with its link page: the
// Company's redirect URL. Its own token opens it; it hands out the
// connections' pages, tokens included, so it is a capability for all of
// them.
func (h *Handler) company(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("companyId")
	if !h.Links.CheckCompany(id, r.URL.Query().Get("token")) {
		h.fail(w, store.ErrNotFound)
		return
	}
	co, err := h.Store.Company(r.Context(), id)
	var conns []store.Connection
	if err == nil {
		conns, err = h.Store.Connections(r.Context(), co.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	list := make([]companyConn, len(conns))
	for i, c := range conns {
		list[i] = companyConn{URL: linkcode.ConnectionPath(c.CompanyID, c.ID) + "?token=" + h.Links.ConnectionToken(c.CompanyID, c.ID),
			PlatformKey: c.PlatformKey, Status: c.Status}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := companyPage.Execute(w, struct {
		Name  string
		Conns []companyConn
	}{co.Name, list}); err != nil {
		h.Logger.Error("render company link page", "err", err)
	}
}

// newCode issues a fresh code for a PendingAuth or Deauthorized connection
// to a post from its own page, and shows it this once.
func (h *Handler) newCode(w http.ResponseWriter, r *http.Request) {
	if wait, ok := h.limiter.Allow(r.Context(), r.RemoteAddr, h.Now()); !ok {
		h.Logger.Warn("link code requests over the limit", "remote", ratelimit.Address(r.RemoteAddr))
		w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
		http.Error(w, "Too many requests for a link code from your address; try again in a few minutes.", http.StatusTooManyRequests)
		return
	}
	if err := h.origin.Check(r); err != nil {
		h.Logger.Warn("link code refused", "reason", "cross-origin", "remote", ratelimit.Address(r.RemoteAddr))
		http.Error(w, "This form did not come from the link page. Open the link again.", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "This form could not be read. Open the link again.", http.StatusBadRequest)
		return
	}
	token := r.PostForm.Get("token")
	co, conn, ok := h.load(w, r, token)
	if !ok {
		return
	}
	if !h.csrfOK(r, conn) {
		h.Logger.Warn("link code refused", "reason", "csrf", "connection", conn.ID)
		http.Error(w, "This form did not come from the link page, or it has expired. Open the link again.", http.StatusForbidden)
		return
	}
	code, hash := linkcode.New()
	exp := h.Now().UTC().Add(h.CodeTTL)
	issued, err := h.Store.ReplaceLinkCode(r.Context(), conn.CompanyID, conn.ID,
		store.LinkCode{Hash: hash, CompanyID: conn.CompanyID, ConnectionID: conn.ID, Expires: exp},
		store.PendingAuth, store.Deauthorized)
	switch {
	case errors.Is(err, store.ErrLinked), errors.Is(err, store.ErrCodeRefused):
		cur, lerr := h.Store.Connection(r.Context(), conn.CompanyID, conn.ID)
		if lerr != nil {
			h.fail(w, lerr)
			return
		}
		v := h.view(w, r, co, cur, token)
		v.Message = "No link code was issued: the connection is " + string(cur.Status) + "."
		h.render(w, r, http.StatusConflict, v)
		return
	case err != nil:
		h.fail(w, err)
		return
	}
	h.Logger.Info("link code issued at the link page", "company", conn.CompanyID, "connection", conn.ID)
	v := h.view(w, r, co, issued, token)
	v.Code, v.Expires, v.Outstanding = code, exp.Format("2 January 2006 at 15:04 UTC"), ""
	v.Downloads = h.downloads(v)
	h.render(w, r, http.StatusOK, v)
}

// load checks the link token, then reads the company and connection; a
// wrong token is the same 404 as a missing connection, found without a
// read of the store.
func (h *Handler) load(w http.ResponseWriter, r *http.Request, token string) (store.Company, store.Connection, bool) {
	coID, connID := r.PathValue("companyId"), r.PathValue("connectionId")
	if !h.Links.CheckConnection(coID, connID, token) {
		h.fail(w, store.ErrNotFound)
		return store.Company{}, store.Connection{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	co, err := h.Store.Company(ctx, coID)
	if err == nil {
		var conn store.Connection
		conn, err = h.Store.Connection(ctx, co.ID, connID)
		if err == nil {
			return co, conn, true
		}
	}
	h.fail(w, err)
	return store.Company{}, store.Connection{}, false
}

// csrf returns the code form's CSRF token, an HMAC of the connection and
// the nonce in the page's cookie (set here when the browser has none): a
// forged post from elsewhere has neither the cookie nor the token.
func (h *Handler) csrf(w http.ResponseWriter, r *http.Request, conn store.Connection) string {
	nonce := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		nonce = c.Value
	} else {
		var b [32]byte
		_, _ = rand.Read(b[:])
		nonce = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: "/link/", MaxAge: 24 * 3600,
			HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
	}
	return h.csrfToken(conn, nonce)
}

func (h *Handler) csrfToken(conn store.Connection, nonce string) string {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte("link-code\x00" + conn.CompanyID + "\x00" + conn.ID + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfOK reports whether the post carries the CSRF token of its cookie.
func (h *Handler) csrfOK(r *http.Request, conn store.Connection) bool {
	c, err := r.Cookie(csrfCookie)
	got := r.PostForm.Get("csrf")
	if err != nil || c.Value == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(h.csrfToken(conn, c.Value)))
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "This link is not valid. Ask whoever sent it for a new one.", http.StatusNotFound)
		return
	}
	h.Logger.Error("link page", "err", err)
	http.Error(w, "Something went wrong; try again.", http.StatusInternalServerError)
}
