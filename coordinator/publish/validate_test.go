package publish

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
)

// Records of the sample book (testdata/sample-csv) as the csv connector
// uploads them.
const (
	customerC001 = `{"contactName":"Ann Ward","customerName":"Bluebell Cafe","defaultCurrency":"GBP","id":"C001","status":"Active"}`
	account4000  = `{"currency":"GBP","currentBalance":-1786.25,"id":"4000","isBankAccount":false,"name":"Sales","nominalCode":"4000","status":"Active","type":"Income"}`
	account1200  = `{"currency":"GBP","currentBalance":4641.80,"id":"1200","isBankAccount":true,"name":"Business Current Account","nominalCode":"1200","status":"Active","type":"Asset"}`
	account3000  = `{"currency":"GBP","currentBalance":-5000.00,"id":"3000","isBankAccount":false,"name":"Share Capital","nominalCode":"3000","status":"Active","type":"Equity"}`
	taxRateVAT20 = `{"code":"S","effectiveTaxRate":20,"id":"VAT20","name":"Standard rate 20%","status":"Active","totalTaxRate":20}`
	invoice001   = `{"amountDue":0.00,"currency":"GBP","customerRef":{"companyName":"Bluebell Cafe","id":"C001"},"dueDate":"2024-06-01T00:00:00",` +
		`"id":"INV-001","invoiceNumber":"1001","issueDate":"2024-05-02T00:00:00","lineItems":[` +
		`{"accountRef":{"id":"4000","name":"Sales"},"description":"Harbour print, framed","quantity":10,"subTotal":457.50,"taxAmount":91.50,"taxRateRef":{"id":"VAT20"},"totalAmount":549.00,"unitAmount":45.75},` +
		`{"accountRef":{"id":"4000","name":"Sales"},"description":"Gallery hanging service","quantity":2,"subTotal":240.00,"taxAmount":48.00,"taxRateRef":{"id":"VAT20"},"totalAmount":288.00,"unitAmount":120.00}],` +
		`"status":"Paid","subTotal":697.50,"totalAmount":837.00,"totalTaxAmount":139.50}`
	journal001 = `{"createdOn":"2024-04-01T00:00:00","description":"Share capital paid in","id":"JE-001","journalLines":[` +
		`{"accountRef":{"id":"1200"},"currency":"GBP","description":"Share capital received","netAmount":5000.00},` +
		`{"accountRef":{"id":"3000"},"currency":"GBP","description":"Share capital issued","netAmount":-5000.00}],"postedOn":"2024-04-01T00:00:00"}`
)

// syncing is an env whose uploads carry warnings, as a source's
// Mapping report would.
type syncing struct {
	e        *env
	warnings []store.Warning
}

func (e *env) syncing() *syncing {
	return &syncing{e: e.start()}
}

// upload commits a dataset of type dt with recs in one page (none: an
// empty dataset), publishes it and waits for it to reach want. It returns
// the dataset's validation results.
func (s *syncing) upload(dt dataset.DataType, want dataset.Status, recs ...string) store.ValidationResult {
	e := s.e
	e.t.Helper()
	id := e.committed(dt, s.warnings, recs...)
	e.pub.Publish(e.co, id)
	e.waitStatus(id, want)
	v, err := e.st.Validation(e.t.Context(), e.co, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// ruleIDs lists the items' rule ids.
func ruleIDs(items []store.ValidationItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.RuleID
	}
	return out
}

// refsSynced syncs the customer, accounts and tax rate invoice001 refers to.
func (s *syncing) refsSynced() {
	s.e.t.Helper()
	for dt, recs := range map[dataset.DataType][]string{
		dataset.Customers:       {customerC001},
		dataset.ChartOfAccounts: {account4000, account1200, account3000},
		dataset.TaxRates:        {taxRateVAT20},
	} {
		if v := s.upload(dt, dataset.Complete, recs...); len(v.Errors)+len(v.Warnings) != 0 {
			s.e.t.Fatalf("%s: %+v", dt, v)
		}
	}
}

func TestValidationGoodInvoicesComplete(t *testing.T) {
	s := newEnv(t).syncing()
	s.refsSynced()
	v := s.upload(dataset.Invoices, dataset.Complete, invoice001)
	if len(v.Errors) != 0 || len(v.Warnings) != 0 {
		t.Errorf("validation results %+v, want none", v)
	}
}

func TestValidationLinesDontAddUp(t *testing.T) {
	s := newEnv(t).syncing()
	s.refsSynced()
	bad := strings.Replace(invoice001, `"subTotal":697.50`, `"subTotal":697.00`, 1)
	bad = strings.Replace(bad, `"totalAmount":837.00`, `"totalAmount":836.50`, 1)
	v := s.upload(dataset.Invoices, dataset.ValidationError, bad)
	want := store.ValidationItem{RuleID: model.RuleInvoiceLineItemsSum, ItemID: "INV-001", ValidatorName: "invoices",
		Message: "the lines' subTotal add up to 697.50, but subTotal is 697.00"}
	if len(v.Errors) != 1 || v.Errors[0] != want || len(v.Warnings) != 0 {
		t.Errorf("validation results %+v, want the one error %+v", v, want)
	}
	d := s.latest(dataset.Invoices)
	if msg := d.Timeline[len(d.Timeline)-1].Message; msg != "1 validation errors; see the validation results" {
		t.Errorf("timeline message %q", msg)
	}
}

// latest is the newest dataset of type dt.
func (s *syncing) latest(dt dataset.DataType) store.Dataset {
	st, err := s.e.st.DataStatus(s.e.t.Context(), s.e.co)
	if err != nil {
		s.e.t.Fatal(err)
	}
	return st[dt].Latest
}

func TestValidationUnknownCustomerIsAnError(t *testing.T) {
	s := newEnv(t).syncing()
	s.refsSynced()
	v := s.upload(dataset.Invoices, dataset.ValidationError, strings.Replace(invoice001, `"id":"C001"`, `"id":"C009"`, 1))
	if got := ruleIDs(v.Errors); !slices.Equal(got, []string{model.RuleInvoiceCustomerRef}) || v.Errors[0].ItemID != "INV-001" ||
		!strings.Contains(v.Errors[0].Message, "C009") {
		t.Errorf("errors %+v, want one %s naming C009", v.Errors, model.RuleInvoiceCustomerRef)
	}
}

func TestValidationCustomersNeverSyncedIsAWarning(t *testing.T) {
	s := newEnv(t).syncing()
	// Nothing synced: customers, accounts and tax rates have no cache.
	v := s.upload(dataset.Invoices, dataset.Complete, invoice001, strings.Replace(invoice001, `"INV-001"`, `"INV-002"`, 1))
	want := []string{model.RuleInvoiceCustomerRef, model.RuleInvoiceAccountRef, model.RuleInvoiceTaxRateRef}
	if len(v.Errors) != 0 || !slices.Equal(ruleIDs(v.Warnings), want) {
		t.Errorf("validation results %+v, want one warning each of %v", v, want)
	}
}

func TestValidationEmptyCustomersCacheIsChecked(t *testing.T) {
	s := newEnv(t).syncing()
	// Customers synced with none: a customer an invoice names is missing,
	// not unknowable.
	s.upload(dataset.Customers, dataset.Complete)
	v := s.upload(dataset.Invoices, dataset.ValidationError, invoice001)
	if !slices.Contains(ruleIDs(v.Errors), model.RuleInvoiceCustomerRef) {
		t.Errorf("errors %+v, want %s", v.Errors, model.RuleInvoiceCustomerRef)
	}
}

func TestValidationUnbalancedJournal(t *testing.T) {
	s := newEnv(t).syncing()
	s.refsSynced()
	v := s.upload(dataset.JournalEntries, dataset.ValidationError,
		journal001, strings.Replace(strings.Replace(journal001, `-5000.00`, `-4999.99`, 1), `"JE-001"`, `"JE-002"`, 1))
	want := store.ValidationItem{RuleID: model.RuleJournalBalanced, ItemID: "JE-002", ValidatorName: "journalEntries",
		Message: "the lines' netAmount add up to 0.01, not 0: debits and credits must balance"}
	if len(v.Errors) != 1 || v.Errors[0] != want {
		t.Errorf("errors %+v, want %+v", v.Errors, want)
	}
}

func TestValidationKeepsOnlyMaxFindings(t *testing.T) {
	s := newEnv(t).syncing()
	n := model.MaxFindings + 20
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"id":"C%d"}`, i) // no customerName
	}
	v := s.upload(dataset.Customers, dataset.ValidationError, recs...)
	if len(v.Errors) == 0 {
		t.Fatal("no errors")
	}
	last := v.Errors[len(v.Errors)-1]
	if len(v.Errors) != model.MaxFindings+1 || last.RuleID != model.RuleTruncated || !strings.HasPrefix(last.Message, "20 more errors") {
		t.Errorf("%d errors, the last %+v", len(v.Errors), last)
	}
	d := s.latest(dataset.Customers)
	if msg := d.Timeline[len(d.Timeline)-1].Message; !strings.HasPrefix(msg, fmt.Sprint(n, " validation errors")) {
		t.Errorf("timeline message %q, want the count of every error", msg)
	}
}

// TestValidationKeepsSourceWarnings: the warnings an agent sends with its
// Mapping report come first among the validation warnings, and stay with
// the dataset, which completes.
func TestValidationKeepsSourceWarnings(t *testing.T) {
	s := newEnv(t).syncing()
	s.warnings = []store.Warning{{RuleID: "source.bookOpen", Message: "The book was open in GnuCash on till-pc"}}
	v := s.upload(dataset.Customers, dataset.Complete)
	want := []store.ValidationItem{{RuleID: "source.bookOpen", Message: "The book was open in GnuCash on till-pc", ValidatorName: SourceValidator}}
	if len(v.Errors) != 0 || !slices.Equal(v.Warnings, want) {
		t.Errorf("validation %+v, want only the warning %+v", v, want)
	}
	if d := s.latest(dataset.Customers); len(d.Warnings) != 1 || d.Warnings[0].RuleID != "source.bookOpen" {
		t.Errorf("the dataset keeps warnings %+v", d.Warnings)
	}
}
