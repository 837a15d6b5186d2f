package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/ferry-sync/ferry/coordinator/aged"
)

// agedDebtor serves the aged debtor report: what each customer owes, by
// how long ago it was invoiced.
func (s *Server) agedDebtor(w http.ResponseWriter, r *http.Request) error {
	return s.agedReport(w, r, aged.Debtors)
}

// agedCreditor serves the aged creditor report: what the business owes each
// supplier, by how long ago it was billed.
func (s *Server) agedCreditor(w http.ResponseWriter, r *http.Request) error {
	return s.agedReport(w, r, aged.Creditors)
}

// agedReport computes kind's report from the company's cached records
// of the latest Complete datasets (aged.Open); 409 when one is missing.
func (s *Server) agedReport(w http.ResponseWriter, r *http.Request, kind aged.Kind) error {
	p, err := agedParams(r, s.now())
	if err != nil {
		return err
	}
	records, err := aged.Open(r.Context(), s.store, r.PathValue("companyId"), kind)
	if missing := (*aged.MissingError)(nil); errors.As(err, &missing) {
		return errorf(http.StatusConflict, CodeConflict, "%v", missing)
	}
	if err != nil {
		return err
	}
	rep, err := aged.Build(kind, p, records, s.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// agedParams reads the report's parameters (aged.ParseParams); a bad one
// is a 400 naming it.
func agedParams(r *http.Request, now time.Time) (aged.Params, error) {
	p, err := aged.ParseParams(r.URL.Query(), now)
	if err != nil {
		return p, errorf(http.StatusBadRequest, CodeBadParameter, "%v", err)
	}
	return p, nil
}
