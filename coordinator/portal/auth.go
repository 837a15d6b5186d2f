package portal

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/ferry-sync/ferry/coordinator/api"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// maxForm bounds a form body: the Portal's forms hold a token and a key.
const maxForm = 16 << 10

// maxSignInFailures is how many wrong keys one address may try in 10
// minutes: guessing a weak key (a FERRY_ADMIN_KEY chosen by hand) through
// the form is slow, and a good key is never held up by them.
const maxSignInFailures = 20

type pageFunc func(http.ResponseWriter, *http.Request, *session)

// signedIn runs fn for a signed-in session whose API key still exists, and
// sends anyone else to the sign-in page.
func (h *Handler) signedIn(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.session(r)
		if s == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/live") {
				http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
				return
			}
			h.fail(w, r, nil, http.StatusUnauthorized, "Your session has ended. Sign in again.")
			return
		}
		fn(w, r, s)
	}
}

// form runs fn for a signed-in session's POST that comes from the Portal
// itself: same origin (Sec-Fetch-Site, Origin) and carrying the session's
// CSRF token. Anything else is 403 and changes nothing.
func (h *Handler) form(fn pageFunc) http.HandlerFunc {
	return h.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !h.checkForm(w, r) || !tokenEqual(r.PostForm.Get("csrf"), s.csrf) {
			h.log.Warn("portal form refused", "path", r.URL.Path, "reason", "csrf")
			h.fail(w, r, s, http.StatusForbidden, "This form did not come from the Portal, or it has expired. Reload the page and try again.")
			return
		}
		fn(w, r, s)
	})
}

// checkForm refuses a cross-origin post and parses the (bounded) form.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request) bool {
	if err := h.origin.Check(r); err != nil {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	return r.ParseForm() == nil
}

// session returns the request's live session, or nil. The API key that
// opened it is looked up again: a deleted key ends its sessions at once.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s, err := h.sessions.get(r.Context(), c.Value, h.now())
	if err != nil {
		h.log.Error("portal session", "err", err)
		return nil
	}
	if s == nil {
		return nil
	}
	key, err := h.store.APIKeyByHash(r.Context(), s.keyHash)
	if err != nil || key.ID != s.keyID || subtle.ConstantTimeCompare(key.Hash, s.keyHash) != 1 {
		if errors.Is(err, store.ErrNotFound) || err == nil {
			if err := h.sessions.drop(r.Context(), c.Value); err != nil {
				h.log.Error("end portal session", "err", err)
			}
		}
		return nil
	}
	return s
}

func (h *Handler) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/portal", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	}
}

type signinData struct {
	Error string
}

// signinPage shows the sign-in form. Before a session exists, the form's
// CSRF token is bound to a nonce in a cookie of its own.
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if s := h.session(r); s != nil {
		http.Redirect(w, r, home(s.scope), http.StatusSeeOther)
		return
	}
	h.renderSignin(w, r, http.StatusOK, "")
}

func (h *Handler) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	// Keep the nonce a browser has, so that two sign-in tabs both work.
	var nonce string
	if c, err := r.Cookie(signinCookie); err == nil && len(c.Value) == len(randomToken()) {
		nonce = c.Value
	} else {
		nonce = randomToken()
	}
	http.SetCookie(w, h.cookie(signinCookie, nonce, 3600))
	h.render(w, r, status, "signin", page{
		Title: "Sign in", CSRF: signinToken(h.secret, nonce), Data: signinData{Error: msg},
	})
}

// signin opens a session for a valid API key.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signinCookie)
	if !h.checkForm(w, r) || err != nil || !tokenEqual(r.PostForm.Get("csrf"), signinToken(h.secret, c.Value)) {
		h.log.Warn("portal sign-in refused", "reason", "csrf")
		h.fail(w, r, nil, http.StatusForbidden, "This form did not come from the Portal, or it has expired. Reload the page and try again.")
		return
	}
	if _, blocked := h.failed.Blocked(r.Context(), r.RemoteAddr, h.now()); blocked {
		h.log.Warn("portal sign-in refused", "reason", "too many wrong keys", "remote", ratelimit.Address(r.RemoteAddr))
		h.renderSignin(w, r, http.StatusTooManyRequests, "Too many wrong keys from your address; try again in a few minutes.")
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("key"))
	if secret == "" || len(secret) > 512 {
		h.renderSignin(w, r, http.StatusUnauthorized, "Enter an API key.")
		return
	}
	hash := api.HashKey(secret)
	key, err := h.store.APIKeyByHash(r.Context(), hash)
	if err != nil || subtle.ConstantTimeCompare(key.Hash, hash) != 1 {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Error("portal sign-in", "err", err)
		}
		h.failed.Fail(r.Context(), r.RemoteAddr, h.now())
		h.log.Info("portal sign-in refused", "reason", "unknown key", "remote", ratelimit.Address(r.RemoteAddr))
		h.renderSignin(w, r, http.StatusUnauthorized, "That API key is not valid.")
		return
	}
	id, err := h.sessions.create(r.Context(), &session{keyID: key.ID, keyHash: key.Hash, keyName: key.Name, scope: key.Scope}, h.now())
	if err != nil {
		h.log.Error("portal sign-in", "err", err)
		h.renderSignin(w, r, http.StatusServiceUnavailable, "The Portal could not sign you in; try again shortly.")
		return
	}
	http.SetCookie(w, h.cookie(sessionCookie, id, 0))
	http.SetCookie(w, h.cookie(signinCookie, "", -1))
	h.log.Info("portal sign-in", "apiKey", key.ID, "scope", key.Scope)
	http.Redirect(w, r, home(key.Scope), http.StatusSeeOther)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request, s *session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := h.sessions.drop(r.Context(), c.Value); err != nil {
			h.log.Error("portal sign-out", "err", err)
			h.fail(w, r, s, http.StatusServiceUnavailable, "The Portal could not sign you out; try again shortly.")
			return
		}
	}
	http.SetCookie(w, h.cookie(sessionCookie, "", -1))
	h.log.Info("portal sign-out", "apiKey", s.keyID)
	http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
}

// home is the Portal's first page for a key of scope: the fleet for
// support, the companies for a client.
func home(scope store.Scope) string {
	if scope == store.ScopeSupport {
		return "/portal/fleet"
	}
	return "/portal/companies"
}
