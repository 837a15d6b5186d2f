package api

import (
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/rules"
)

// CORS: a browser page may call the API from one of the profile's allowed
// origins (POST /corsSettings). Ferry answers its preflight and names the
// origin in Access-Control-Allow-Origin; it never answers "*" and never
// allows credentials (cookies): a page sends the API key in the
// Authorization header, which the preflight allows. A request from
// another origin gets no CORS header, so the browser keeps the answer
// from the page; its preflight is refused (403).

// Headers of the CORS answers.
const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, X-Correlation-Id"
	corsExpose  = "X-Correlation-Id, Retry-After, Allow"
	corsMaxAge  = "600"
)

// cors adds the CORS headers for a request that carries an Origin, and
// answers a preflight; it reports whether it answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" && !preflight {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	p, err := s.store.Profile(r.Context())
	if err != nil {
		if preflight {
			s.writeError(w, r, err)
			return true
		}
		// The request itself goes on, without CORS headers.
		s.log.Warn("read CORS origins", "err", err)
		return false
	}
	if !rules.OriginAllowed(p, origin) {
		if preflight {
			s.writeError(w, r, errorf(http.StatusForbidden, CodeForbidden,
				"origin %q is not allowed: add it with POST /corsSettings", truncate(origin, 128)))
			return true
		}
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExpose)
		return false
	}
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}
