package api

import (
	"errors"
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// profileView is Codat's Profile. Ferry never shows Codat's apiKey: keys
// are listed, without their secrets, by GET /apiKeys.
type profileView struct {
	Name               string   `json:"name"`
	LogoURL            string   `json:"logoUrl"`
	IconURL            string   `json:"iconUrl"`
	RedirectURL        string   `json:"redirectUrl"`
	WhiteListURLs      []string `json:"whiteListUrls"`
	ConfirmCompanyName bool     `json:"confirmCompanyName"`
}

// profileBody is a PUT /profile: it replaces every field of the profile
// (an absent one becomes empty) but the CORS origins, which have their
// own endpoint.
type profileBody struct {
	Name               *string  `json:"name"`
	LogoURL            string   `json:"logoUrl"`
	IconURL            string   `json:"iconUrl"`
	RedirectURL        string   `json:"redirectUrl"`
	WhiteListURLs      []string `json:"whiteListUrls"`
	ConfirmCompanyName bool     `json:"confirmCompanyName"`
}

// corsBody is Codat's ConnectionManagementAllowedOrigins.
type corsBody struct {
	AllowedOrigins []string `json:"allowedOrigins"`
}

func viewProfile(p store.Profile) profileView {
	v := profileView{Name: p.Name, LogoURL: p.LogoURL, IconURL: p.IconURL, RedirectURL: p.RedirectURL,
		WhiteListURLs: p.WhiteListURLs, ConfirmCompanyName: p.ConfirmCompanyName}
	if v.WhiteListURLs == nil {
		v.WhiteListURLs = []string{}
	}
	return v
}

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) error {
	p, err := s.store.Profile(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewProfile(p))
	return nil
}

func (s *Server) putProfile(w http.ResponseWriter, r *http.Request) error {
	var b profileBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.Name == nil {
		return errorf(http.StatusBadRequest, CodeInvalidField, "name is required")
	}
	p, err := s.store.UpdateProfile(r.Context(), func(p *store.Profile) error {
		p.Name, p.LogoURL, p.IconURL, p.RedirectURL = *b.Name, b.LogoURL, b.IconURL, b.RedirectURL
		p.WhiteListURLs, p.ConfirmCompanyName = b.WhiteListURLs, b.ConfirmCompanyName
		return nil
	})
	if err != nil {
		return fieldError(err)
	}
	s.log.Info("profile updated")
	writeJSON(w, http.StatusOK, viewProfile(p))
	return nil
}

func (s *Server) getCORS(w http.ResponseWriter, r *http.Request) error {
	p, err := s.store.Profile(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, corsView(p))
	return nil
}

func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) error {
	var b corsBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.AllowedOrigins == nil {
		return errorf(http.StatusBadRequest, CodeInvalidField, "allowedOrigins is required (an empty list allows none)")
	}
	p, err := s.store.UpdateProfile(r.Context(), func(p *store.Profile) error {
		p.AllowedOrigins = b.AllowedOrigins
		return nil
	})
	if err != nil {
		return fieldError(err)
	}
	s.log.Info("CORS origins set", "origins", len(p.AllowedOrigins))
	writeJSON(w, http.StatusOK, corsView(p))
	return nil
}

func corsView(p store.Profile) corsBody {
	if p.AllowedOrigins == nil {
		return corsBody{AllowedOrigins: []string{}}
	}
	return corsBody{AllowedOrigins: p.AllowedOrigins}
}

// fieldError is a 400 naming the field for input the rules refuse; other
// errors pass as they are.
func fieldError(err error) error {
	var fe *rules.FieldError
	if errors.As(err, &fe) {
		return errorf(http.StatusBadRequest, CodeInvalidField, "%s %s", fe.Field, fe.Reason)
	}
	return err
}
