package portal

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/aged"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/model"
)

// reportData is the aged report page: the form of its parameters, then a
// table of what each customer or supplier owes by period, or why there is
// none.
type reportData struct {
	Company store.Company
	Name    string // agedDebtor, agedCreditor
	Title   string
	// ContactHeading names the first column: Customer, Supplier.
	ContactHeading string
	// The form's values, as given (or the defaults).
	ReportDate      string
	Periods, Length int
	// Error is a bad parameter; Missing, the data types not yet synced.
	Error, Missing string
	Headers        []string // the periods, newest first: "from – to"
	Rows           []reportRow
	Totals         []reportRow // one per currency
	GeneratedAt    string
}

// reportRow is one contact's amounts in one currency.
type reportRow struct {
	ID, Name, Currency string
	Amounts            []string
	Total              string
}

// reports are the Portal's reports, by name.
var reports = map[string]struct {
	kind    aged.Kind
	title   string
	contact string
}{
	"agedDebtor":   {aged.Debtors, "Aged debtors", "Customer"},
	"agedCreditor": {aged.Creditors, "Aged creditors", "Supplier"},
}

// reportPage shows an aged report, computed as the API computes it, with
// the same parameters in its query.
func (h *Handler) reportPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	rep, ok := reports[r.PathValue("report")]
	if !ok {
		h.fail(w, r, s, http.StatusNotFound, "There is no such report.")
		return
	}
	co, err := h.store.Company(ctx, r.PathValue("companyId"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	}
	d := reportData{Company: co, Name: rep.kind.Name, Title: rep.title, ContactHeading: rep.contact}
	p, err := aged.ParseParams(r.URL.Query(), h.now())
	d.ReportDate, d.Periods, d.Length = p.ReportDate.Format(time.DateOnly), p.Periods, p.PeriodLengthDays
	status := http.StatusOK
	if err != nil {
		d.Error, status = err.Error(), http.StatusBadRequest
		h.render(w, r, status, "report", h.signedPage(ctx, s, rep.title, d))
		return
	}
	records, err := aged.Open(ctx, h.store, co.ID, rep.kind)
	var missing *aged.MissingError
	switch {
	case errors.As(err, &missing):
		d.Missing = missing.Error()
	case err != nil:
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	default:
		out, err := aged.Build(rep.kind, p, records, h.now())
		if err != nil {
			h.internal(w, r, s, err)
			return
		}
		d.fill(out)
	}
	h.render(w, r, status, "report", h.signedPage(ctx, s, rep.title, d))
}

// fill lays out a report as the page's table: a row per contact and
// currency, a total row per currency.
func (d *reportData) fill(rep aged.Report) {
	d.GeneratedAt = rep.Generated
	var rows []reportRow
	var amounts [][]aged.OutstandingAmount
	add := func(id, name string, cur []aged.CurrencyOutstanding) {
		for _, c := range cur {
			rows = append(rows, reportRow{ID: id, Name: name, Currency: c.Currency})
			amounts = append(amounts, c.AgedOutstandingAmounts)
		}
	}
	switch data := rep.Data.(type) {
	case []aged.Debtor:
		for _, c := range data {
			add(c.CustomerID, c.CustomerName, c.AgedCurrencyOutstanding)
		}
	case []aged.Creditor:
		for _, c := range data {
			add(c.SupplierID, c.SupplierName, c.AgedCurrencyOutstanding)
		}
	}
	totals := map[string][]model.Decimal{} // by currency: the periods, then the total
	var currencies []string
	for i, row := range rows {
		per := amounts[i]
		if d.Headers == nil {
			for _, a := range per {
				d.Headers = append(d.Headers, a.FromDate[:10]+" – "+a.ToDate[:10])
			}
		}
		t := totals[row.Currency]
		if t == nil {
			t = make([]model.Decimal, len(per)+1)
			currencies = append(currencies, row.Currency)
		}
		var sum model.Decimal
		for j, a := range per {
			row.Amounts = append(row.Amounts, a.Amount.String())
			sum = sum.Add(a.Amount)
			t[j] = t[j].Add(a.Amount)
		}
		t[len(per)] = t[len(per)].Add(sum)
		totals[row.Currency] = t
		row.Total = sum.String()
		d.Rows = append(d.Rows, row)
	}
	slices.Sort(currencies)
	for _, c := range currencies {
		t := totals[c]
		row := reportRow{Currency: c, Total: t[len(t)-1].String()}
		for _, v := range t[:len(t)-1] {
			row.Amounts = append(row.Amounts, v.String())
		}
		d.Totals = append(d.Totals, row)
	}
}
