package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/platform"
)

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	conns, err := s.store.Connections(r.Context(), r.PathValue("companyId"))
	if err != nil {
		return err
	}
	views := make([]connectionView, len(conns))
	for i, c := range conns {
		views[i] = s.connectionView(r, c)
	}
	return writePage(w, r, views)
}

func integrationKeys() string {
	return strings.Join(platform.Keys(), ", ")
}

func (s *Server) createConnection(w http.ResponseWriter, r *http.Request) error {
	companyID := r.PathValue("companyId")
	if _, err := s.store.Company(r.Context(), companyID); err != nil {
		return err
	}
	var b struct {
		PlatformKey string `json:"platformKey"`
	}
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if _, ok := platform.Lookup(b.PlatformKey); !ok {
		return errorf(http.StatusBadRequest, CodeInvalidField, "platformKey must be one of: %s", integrationKeys())
	}
	now := s.now().UTC()
	code, hash := linkcode.New()
	c := store.Connection{
		ID: uuid.NewString(), CompanyID: companyID, PlatformKey: b.PlatformKey,
		Status: store.PendingAuth, Created: now, LinkCodeExpires: now.Add(s.codeTTL),
	}
	lc := store.LinkCode{Hash: hash, CompanyID: companyID, ConnectionID: c.ID, Expires: c.LinkCodeExpires}
	if err := s.store.CreateConnection(r.Context(), c, lc); err != nil {
		return err
	}
	s.log.Info("connection created", "company", companyID, "connection", c.ID, "platformKey", c.PlatformKey)
	writeJSON(w, http.StatusOK, s.withCode(r, c, code))
	return nil
}

// newLinkCode issues a fresh link code for a connection that is not
// Linked, replacing any it had, and answers the connection with the code:
// the only time it is shown. An Unlinked connection may get one here (the
// client acting), never at the link page.
func (s *Server) newLinkCode(w http.ResponseWriter, r *http.Request) error {
	companyID, id := r.PathValue("companyId"), r.PathValue("connectionId")
	code, hash := linkcode.New()
	lc := store.LinkCode{Hash: hash, CompanyID: companyID, ConnectionID: id, Expires: s.now().UTC().Add(s.codeTTL)}
	c, err := s.store.ReplaceLinkCode(r.Context(), companyID, id, lc, store.PendingAuth, store.Deauthorized, store.Unlinked)
	if errors.Is(err, store.ErrLinked) {
		return errorf(http.StatusConflict, CodeConflict, "the connection is Linked; unlink it before issuing a new link code")
	}
	if err != nil {
		return err
	}
	s.log.Info("link code issued", "company", companyID, "connection", id)
	writeJSON(w, http.StatusOK, s.withCode(r, c, code))
	return nil
}

func (s *Server) getConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.store.Connection(r.Context(), r.PathValue("companyId"), r.PathValue("connectionId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.connectionView(r, c))
	return nil
}

// patchConnection unlinks a connection: Codat's UpdateConnectionStatus with
// the one status a client may set. Codat's document does not require the
// body (its SDK sends none when the caller gives none): an empty body
// means {"status": "Unlinked"}.
func (s *Server) patchConnection(w http.ResponseWriter, r *http.Request) error {
	companyID, id := r.PathValue("companyId"), r.PathValue("connectionId")
	if _, err := s.store.Connection(r.Context(), companyID, id); err != nil {
		return err
	}
	var b struct {
		Status *store.ConnectionStatus `json:"status"`
	}
	present, err := decodeOptionalBody(w, r, &b)
	if err != nil {
		return err
	}
	if !present {
		unlinked := store.Unlinked
		b.Status = &unlinked
	}
	if b.Status == nil || *b.Status != store.Unlinked {
		return errorf(http.StatusBadRequest, CodeInvalidField, `status must be "Unlinked": the only status a client can set`)
	}
	c, err := s.store.UpdateConnection(r.Context(), companyID, id, func(c *store.Connection) error {
		c.Status = store.Unlinked
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("connection unlinked", "company", companyID, "connection", id)
	writeJSON(w, http.StatusOK, s.connectionView(r, c))
	return nil
}

func (s *Server) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	companyID, id := r.PathValue("companyId"), r.PathValue("connectionId")
	if err := s.store.DeleteConnection(r.Context(), companyID, id); err != nil {
		return err
	}
	s.log.Info("connection deleted", "company", companyID, "connection", id)
	w.WriteHeader(http.StatusOK)
	return nil
}
