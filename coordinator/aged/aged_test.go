package aged_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/aged"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// fixed serves the records given, as JSON text, by data type.
func fixed(recs map[dataset.DataType][]string) aged.Records {
	return func(dt dataset.DataType, fn func([]byte) error) error {
		for _, r := range recs[dt] {
			if err := fn([]byte(r)); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestDebtorPeriods puts each amount in its period, by issue date: the
// edges of the periods, a payment before and one on the report date, a
// credit note partly used, money on account, a draft, and a customer paid
// in full (no row).
func TestDebtorPeriods(t *testing.T) {
	recs := fixed(map[dataset.DataType][]string{
		dataset.Customers: {`{"id":"c1","customerName":"Anna"}`, `{"id":"c2","customerName":"Bo"}`},
		dataset.Invoices: {
			`{"id":"i1","customerRef":{"id":"c1"},"issueDate":"2024-03-31T00:00:00.000Z","currency":"EUR","totalAmount":100.10,"status":"Submitted"}`,
			`{"id":"i2","customerRef":{"id":"c1"},"issueDate":"2024-03-02","currency":"EUR","totalAmount":200,"status":"PartiallyPaid"}`,
			`{"id":"i3","customerRef":{"id":"c1"},"issueDate":"2024-03-01","currency":"EUR","totalAmount":300,"status":"Submitted"}`,
			`{"id":"i4","customerRef":{"id":"c1"},"issueDate":"1999-01-01","currency":"USD","totalAmount":7,"status":"Submitted"}`,
			`{"id":"i5","customerRef":{"id":"c1"},"issueDate":"2024-04-01","currency":"EUR","totalAmount":1000,"status":"Submitted"}`,
			`{"id":"i6","customerRef":{"id":"c1"},"issueDate":"2024-03-10","currency":"EUR","totalAmount":1000,"status":"Draft"}`,
			`{"id":"i7","customerRef":{"id":"c2"},"issueDate":"2024-03-10","currency":"EUR","totalAmount":50,"status":"Paid"}`,
		},
		dataset.CreditNotes: {
			`{"id":"n1","customerRef":{"id":"c1"},"issueDate":"2024-03-20","currency":"EUR","totalAmount":30,"status":"PartiallyPaid"}`,
		},
		dataset.Payments: {
			`{"id":"p1","customerRef":{"id":"c1"},"date":"2024-03-25","currency":"EUR","totalAmount":0,"lines":[
				{"amount":20,"links":[{"type":"Invoice","id":"i2","amount":-20}]},
				{"amount":-20,"links":[{"type":"CreditNote","id":"n1","amount":20}]}]}`,
			`{"id":"p2","customerRef":{"id":"c1"},"date":"2024-04-01","currency":"EUR","totalAmount":300,"lines":[
				{"amount":300,"links":[{"type":"Invoice","id":"i3","amount":-300}]}]}`,
			`{"id":"p3","customerRef":{"id":"c1"},"date":"2024-01-15","currency":"EUR","totalAmount":5,"lines":[
				{"amount":5,"links":[{"type":"PaymentOnAccount","id":"c1","amount":-5}]}]}`,
			`{"id":"p4","customerRef":{"id":"c2"},"date":"2024-03-11","currency":"EUR","totalAmount":50,"lines":[
				{"amount":50,"links":[{"type":"Invoice","id":"i7","amount":-50}]}]}`,
		},
	})
	p := aged.Params{ReportDate: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC), Periods: 3, PeriodLengthDays: 30}
	rep, err := aged.Build(aged.Debtors, p, recs, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rep)
	want := `{"generated":"2024-05-01T12:00:00.000Z","reportDate":"2024-04-01T00:00:00.000Z","data":[` +
		`{"customerId":"c1","customerName":"Anna","agedCurrencyOutstanding":[` +
		`{"currency":"EUR","agedOutstandingAmounts":[` +
		`{"fromDate":"2024-03-02T00:00:00.000Z","toDate":"2024-04-01T00:00:00.000Z","amount":270.10,"details":[{"name":"Invoices","amount":280.10},{"name":"CreditNotes","amount":-10}]},` +
		`{"fromDate":"2024-02-01T00:00:00.000Z","toDate":"2024-03-02T00:00:00.000Z","amount":300,"details":[{"name":"Invoices","amount":300}]},` +
		`{"fromDate":"0001-01-01T00:00:00.000Z","toDate":"2024-02-01T00:00:00.000Z","amount":-5,"details":[{"name":"Payments","amount":-5}]}]},` +
		`{"currency":"USD","agedOutstandingAmounts":[` +
		`{"fromDate":"2024-03-02T00:00:00.000Z","toDate":"2024-04-01T00:00:00.000Z","amount":0,"details":[]},` +
		`{"fromDate":"2024-02-01T00:00:00.000Z","toDate":"2024-03-02T00:00:00.000Z","amount":0,"details":[]},` +
		`{"fromDate":"0001-01-01T00:00:00.000Z","toDate":"2024-02-01T00:00:00.000Z","amount":7,"details":[{"name":"Invoices","amount":7}]}]}]}]}`
	if string(got) != want {
		t.Errorf("report\n got %s\nwant %s", got, want)
	}
}

// TestParamsCheck names the parameter at fault.
func TestParamsCheck(t *testing.T) {
	day := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		p    aged.Params
		want string
	}{
		{aged.Params{ReportDate: day, Periods: 0, PeriodLengthDays: 30}, "numberOfPeriods must be 1 to 120, not 0"},
		{aged.Params{ReportDate: day, Periods: 121, PeriodLengthDays: 30}, "numberOfPeriods must be 1 to 120, not 121"},
		{aged.Params{ReportDate: day, Periods: 4, PeriodLengthDays: 0}, "periodLengthDays must be 1 to 3660, not 0"},
		{aged.Params{ReportDate: day.AddDate(-200, 0, 0), Periods: 4, PeriodLengthDays: 30}, "reportDate must be in the years 1900 to 9999, not 1824-04-01"},
		{aged.Params{ReportDate: day, Periods: 120, PeriodLengthDays: 3660}, ""},
	} {
		err := tc.p.Check()
		if got := errText(err); got != tc.want {
			t.Errorf("Check(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
