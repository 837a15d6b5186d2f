package api

import (
	"errors"
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/financials"
)

// getBalanceSheet serves Codat's balance sheet, computed from the
// company's cached chart of accounts and journal (coordinator/financials).
func (s *Server) getBalanceSheet(w http.ResponseWriter, r *http.Request) error {
	return s.statement(w, r, func(q financials.Query) (any, error) {
		return financials.GetBalanceSheet(r.Context(), s.store, r.PathValue("companyId"), q, s.now())
	})
}

// getProfitAndLoss serves Codat's profit and loss, computed as the balance
// sheet is.
func (s *Server) getProfitAndLoss(w http.ResponseWriter, r *http.Request) error {
	return s.statement(w, r, func(q financials.Query) (any, error) {
		return financials.GetProfitAndLoss(r.Context(), s.store, r.PathValue("companyId"), q, s.now())
	})
}

// statement reads the periods, waits for one of the Config.SortScans
// scans of the cache allowed at once (a statement reads the whole
// journal), computes and answers.
func (s *Server) statement(w http.ResponseWriter, r *http.Request, compute func(financials.Query) (any, error)) error {
	q, err := financials.ParseQuery(r.URL.Query())
	if err != nil {
		return statementError(err)
	}
	release, err := s.sortSlot(r.Context())
	if err != nil {
		return err
	}
	defer release()
	out, err := compute(q)
	if err != nil {
		return statementError(err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// statementError answers what financials refuses: a bad parameter 400,
// what the cache lacks 409, a statement too slow 503.
func statementError(err error) error {
	var param *financials.ParamError
	var missing *financials.Unavailable
	switch {
	case errors.As(err, &param):
		return errorf(http.StatusBadRequest, CodeBadParameter, "%s", param.Message)
	case errors.As(err, &missing):
		return errorf(http.StatusConflict, CodeConflict, "%s", missing.Message)
	case errors.Is(err, financials.ErrTimeout):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: err.Error(), Retry: true}
	}
	return err
}
