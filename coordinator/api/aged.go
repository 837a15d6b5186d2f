package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-sync/ferry/coordinator/aged"
	"github.com/ferry-sync/ferry/shared/model"
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

// agedParams reads reportDate (today when absent), numberOfPeriods and
// periodLengthDays (Codat's defaults, 4 and 30); a bad one is a 400 naming
// it.
func agedParams(r *http.Request, now time.Time) (aged.Params, error) {
	q := r.URL.Query()
	y, m, d := now.UTC().Date()
	p := aged.Params{ReportDate: time.Date(y, m, d, 0, 0, 0, 0, time.UTC),
		Periods: aged.DefaultPeriods, PeriodLengthDays: aged.DefaultPeriodLengthDays}
	if v := q.Get("reportDate"); v != "" {
		t, err := model.Date(v).Time()
		if err != nil {
			return p, errorf(http.StatusBadRequest, CodeBadParameter,
				"reportDate %q is not a date (write it as 2024-05-02)", truncate(v, 40))
		}
		p.ReportDate = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"numberOfPeriods", &p.Periods}, {"periodLengthDays", &p.PeriodLengthDays}} {
		name, dst := f.name, f.dst
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return p, errorf(http.StatusBadRequest, CodeBadParameter, "%s %q is not a whole number", name, truncate(v, 40))
			}
			*dst = n
		}
	}
	if err := p.Check(); err != nil {
		return p, errorf(http.StatusBadRequest, CodeBadParameter, "%v", err)
	}
	return p, nil
}
