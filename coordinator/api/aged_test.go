package api

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/aged"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestAgedReports serves both reports from the cached records: 409 until
// each type they read has a Complete dataset (or ended NotSupported), the
// figures then, the parameters' defaults and refusals, and the callers
// refused.
func TestAgedReports(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	e.link(co, conn.ID, "agent-1")
	debtor := "/companies/" + co + "/reports/agedDebtor"
	creditor := "/companies/" + co + "/reports/agedCreditor"

	status, out := e.call("GET", debtor, nil)
	e.apiError(status, out, 409, CodeConflict, "invoices", "creditNotes", "payments")
	e.publish(co, dataset.Customers, `{"id":"c1","customerName":"Anna's Bakery"}`)
	e.publish(co, dataset.Invoices,
		`{"id":"i1","customerRef":{"id":"c1","companyName":"Anna"},"issueDate":"2026-02-20T00:00:00Z","currency":"EUR","totalAmount":200.00,"status":"PartiallyPaid"}`,
		`{"id":"i2","customerRef":{"id":"c1"},"issueDate":"2025-12-01T00:00:00Z","currency":"EUR","totalAmount":50.25,"status":"Submitted"}`)
	e.publish(co, dataset.Payments,
		`{"id":"p1","customerRef":{"id":"c1"},"date":"2026-02-25T00:00:00Z","currency":"EUR","totalAmount":80.00,"lines":[{"amount":80.00,"links":[{"type":"Invoice","id":"i1","amount":-80.00}]}]}`)
	status, out = e.call("GET", debtor, nil)
	e.apiError(status, out, 409, CodeConflict, "none of [creditNotes]")

	// creditNotes ended NotSupported (the source has none): none, and the
	// report is served.
	op := e.queue(co, dataset.CreditNotes)
	e.drive(co, op.ID, "agent-1", dataset.Fetching, dataset.NotSupported)
	var rep struct {
		Generated, ReportDate string
		Data                  []aged.Debtor
	}
	body := e.must(200, "GET", debtor, nil, &rep)
	checkSchema(t, "AccountingAgedDebtorReport", body)
	// Today is the clock's 2026-03-01 plus the drives' seconds; four
	// periods of 30 days back from it.
	if rep.ReportDate != "2026-03-01T00:00:00.000Z" || len(rep.Data) != 1 || rep.Data[0].CustomerName != "Anna's Bakery" {
		t.Fatalf("report %s", body)
	}
	amounts := rep.Data[0].AgedCurrencyOutstanding[0].AgedOutstandingAmounts
	if len(amounts) != 4 || amounts[0].Amount.String() != "120.00" || amounts[2].Amount.String() != "50.25" ||
		amounts[0].FromDate != "2026-01-30T00:00:00.000Z" || amounts[3].FromDate != "0001-01-01T00:00:00.000Z" {
		t.Errorf("amounts %+v, want 120.00 in the first period, 50.25 (issued 90 days before) in the third", amounts)
	}
	// Before the payment, in two periods of a week.
	body = e.must(200, "GET", debtor+"?reportDate=2026-02-25&numberOfPeriods=2&periodLengthDays=7", nil, &rep)
	if !strings.Contains(string(body), `"toDate":"2026-02-25T00:00:00.000Z","amount":200.00,`) ||
		!strings.Contains(string(body), `"toDate":"2026-02-18T00:00:00.000Z","amount":50.25,`) {
		t.Errorf("report before the payment: %s", body)
	}

	// The creditor report reads other types.
	status, out = e.call("GET", creditor, nil)
	e.apiError(status, out, 409, CodeConflict, "bills")

	for _, q := range []struct{ query, field string }{
		{"reportDate=yesterday", "reportDate"}, {"reportDate=1066-10-14", "reportDate"},
		{"numberOfPeriods=0", "numberOfPeriods"}, {"numberOfPeriods=1e3", "numberOfPeriods"},
		{"periodLengthDays=-30", "periodLengthDays"}, {"periodLengthDays=99999", "periodLengthDays"},
	} {
		status, out := e.call("GET", debtor+"?"+q.query, nil)
		e.apiError(status, out, 400, CodeBadParameter, q.field)
	}

	// A support key reads it; no key, a revoked key, a missing company,
	// another company (which synced nothing) are refused.
	if status, out := e.callWith(e.supportKeyOf(), "GET", debtor, nil); status != 200 {
		t.Errorf("support key: %d %s", status, out)
	}
	status, out = e.callWith("", "GET", debtor, nil)
	e.apiError(status, out, 401, CodeUnauthorized)
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "revoked"}, &k)
	e.must(204, "DELETE", "/apiKeys/"+k.ID, nil, nil)
	status, out = e.callWith("Bearer "+k.APIKey, "GET", debtor, nil)
	e.apiError(status, out, 401, CodeUnauthorized)
	status, out = e.call("GET", "/companies/nope/reports/agedDebtor", nil)
	e.apiError(status, out, 404, CodeNotFound)
	other := e.company("Other")
	status, out = e.call("GET", "/companies/"+other+"/reports/agedDebtor", nil)
	e.apiError(status, out, 409, CodeConflict)
	status, out = e.call("POST", debtor, nil)
	e.apiError(status, out, 405, CodeMethodRefused)
}
