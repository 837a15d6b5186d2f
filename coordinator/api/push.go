package api

import (
	"net/http"
)

// Ferry reads the books and never writes back to them: there are no push
// operations. The list is an empty page and one operation is 404, until
// writing exists.

// pushOperationView is Codat's PushOperation; no value is ever made (the
// list is always empty), it gives the page its element type.
type pushOperationView struct {
	CompanyID         string `json:"companyId"`
	PushOperationKey  string `json:"pushOperationKey"`
	DataConnectionKey string `json:"dataConnectionKey"`
	RequestedOnUtc    string `json:"requestedOnUtc"`
	Status            string `json:"status"`
	StatusCode        int    `json:"statusCode"`
}

func (s *Server) listPushOperations(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.store.Company(r.Context(), r.PathValue("companyId")); err != nil {
		return err
	}
	return writePage(w, r, []pushOperationView{})
}

func (s *Server) getPushOperation(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.store.Company(r.Context(), r.PathValue("companyId")); err != nil {
		return err
	}
	return errorf(http.StatusNotFound, CodeNotFound,
		"no push operation %q: Ferry reads the books and does not write back to them", truncate(r.PathValue("pushOperationKey"), 64))
}
