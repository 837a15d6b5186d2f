package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// companyBody is Codat's CompanyRequestBody (create) and
// CompanyUpdateRequest (patch: absent fields stay as they are).
type companyBody struct {
	Name        *string           `json:"name"`
	Description *string           `json:"description"`
	Tags        map[string]string `json:"tags"`
}

// namePattern is Codat's company-name pattern widened to letters and digits
// of every script: a German GmbH keeps its umlauts.
var namePattern = regexp.MustCompile(`^[\p{L}\p{N}\s\-',&@.?!()/+]+$`)

func (b companyBody) validate(create bool) error {
	if b.Name == nil && create {
		return errorf(http.StatusBadRequest, CodeInvalidField, "name is required")
	}
	if b.Name != nil && (utf8.RuneCountInString(*b.Name) > 200 || !namePattern.MatchString(*b.Name)) {
		return errorf(http.StatusBadRequest, CodeInvalidField,
			"name must be 1 to 200 letters, digits, spaces or - ' , & @ . ? ! ( ) / +")
	}
	if b.Description != nil && utf8.RuneCountInString(*b.Description) > 2000 {
		return errorf(http.StatusBadRequest, CodeInvalidField, "description must be at most 2000 characters")
	}
	if len(b.Tags) > 10 {
		return errorf(http.StatusBadRequest, CodeInvalidField, "tags: at most 10")
	}
	for k, v := range b.Tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 27 {
			return errorf(http.StatusBadRequest, CodeInvalidField, "tags: a key must be 1 to 27 characters")
		}
		if utf8.RuneCountInString(v) > 100 {
			return errorf(http.StatusBadRequest, CodeInvalidField, "tags: value of %q must be at most 100 characters", k)
		}
	}
	return nil
}

func (b companyBody) apply(c *store.Company) {
	if b.Name != nil {
		c.Name = *b.Name
	}
	if b.Description != nil {
		c.Description = *b.Description
	}
	if b.Tags != nil {
		c.Tags = b.Tags
	}
}

func (s *Server) listCompanies(w http.ResponseWriter, r *http.Request) error {
	companies, err := s.store.Companies(r.Context())
	if err != nil {
		return err
	}
	views := make([]companyView, len(companies))
	for i, c := range companies {
		conns, err := s.store.Connections(r.Context(), c.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		views[i] = s.companyView(r, c, conns)
	}
	return writePage(w, r, views)
}

func (s *Server) createCompany(w http.ResponseWriter, r *http.Request) error {
	var b companyBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if err := b.validate(true); err != nil {
		return err
	}
	c := store.Company{ID: uuid.NewString(), Created: s.now().UTC()}
	b.apply(&c)
	if err := s.store.CreateCompany(r.Context(), c); err != nil {
		return fmt.Errorf("create company: %w", err)
	}
	s.log.Info("company created", "company", c.ID)
	writeJSON(w, http.StatusOK, s.companyView(r, c, nil))
	return nil
}

func (s *Server) getCompany(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("companyId")
	c, err := s.store.Company(r.Context(), id)
	if err != nil {
		return err
	}
	return s.writeCompany(w, r, c)
}

// writeCompany answers with a company and its connections inline.
func (s *Server) writeCompany(w http.ResponseWriter, r *http.Request, c store.Company) error {
	conns, err := s.store.Connections(r.Context(), c.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.companyView(r, c, conns))
	return nil
}

func (s *Server) patchCompany(w http.ResponseWriter, r *http.Request) error {
	return s.updateCompany(w, r, false)
}

// replaceCompany is Codat's replace: the body's name, description and
// tags replace the company's, an absent description or tags becoming
// empty.
func (s *Server) replaceCompany(w http.ResponseWriter, r *http.Request) error {
	return s.updateCompany(w, r, true)
}

// updateCompany applies the body to the company: a patch changes what the
// body names; a replace (which must name the company) empties the rest.
func (s *Server) updateCompany(w http.ResponseWriter, r *http.Request, replace bool) error {
	id := r.PathValue("companyId")
	if _, err := s.store.Company(r.Context(), id); err != nil {
		return err
	}
	var b companyBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if err := b.validate(replace); err != nil {
		return err
	}
	c, err := s.store.UpdateCompany(r.Context(), id, func(c *store.Company) error {
		if replace {
			c.Description, c.Tags = "", nil
		}
		b.apply(c)
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeCompany(w, r, c)
}

func (s *Server) deleteCompany(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("companyId")
	if err := s.store.DeleteCompany(r.Context(), id); err != nil {
		return err
	}
	s.log.Info("company deleted", "company", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
