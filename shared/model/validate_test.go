package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// memLookup is a Lookup over records held in memory: a type with no entry
// has never been synced.
type memLookup struct {
	ids   map[dataset.DataType]map[string]bool
	calls int
	err   error
}

func (l *memLookup) Exists(dt dataset.DataType, id string) (bool, error) {
	l.calls++
	if l.err != nil {
		return false, l.err
	}
	ids, ok := l.ids[dt]
	if !ok {
		return false, ErrNoCache
	}
	return ids[id], nil
}

// bookLookup is a Lookup over the sample book's records, less the types
// named in without.
func bookLookup(t *testing.T, without ...dataset.DataType) *memLookup {
	t.Helper()
	l := &memLookup{ids: map[dataset.DataType]map[string]bool{}}
	for dt, recs := range sampleBook(t) {
		if slices.Contains(without, dt) {
			continue
		}
		l.ids[dt] = map[string]bool{}
		for _, raw := range recs {
			l.ids[dt][peekID(raw)] = true
		}
	}
	return l
}

func validate(t *testing.T, dt dataset.DataType, lookup Lookup, recs ...string) *Validator {
	t.Helper()
	v := NewValidator(dt, lookup)
	for _, r := range recs {
		if err := v.Add([]byte(r)); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	return v
}

// rules lists the findings' rule ids, a warning's suffixed with "(w)".
func rules(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.RuleID
		if f.Warning {
			out[i] += "(w)"
		}
	}
	return out
}

func TestSampleBookValidates(t *testing.T) {
	lookup := bookLookup(t)
	for dt, recs := range sampleBook(t) {
		v := NewValidator(dt, lookup)
		for _, raw := range recs {
			if err := v.Add(raw); err != nil {
				t.Fatal(err)
			}
		}
		if fs := v.Findings(); len(fs) != 0 {
			t.Errorf("%s: %+v", dt, fs)
		}
	}
}

// del removes a field in edit.
var del = struct{}{}

// edit returns the record raw with the value at each path (dotted, array
// indexes as numbers: "lineItems.0.subTotal") replaced by the next
// argument, or removed where that is del. Amounts stay exact.
func edit(t *testing.T, raw string, pathValues ...any) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var rec any
	if err := dec.Decode(&rec); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pathValues); i += 2 {
		path := strings.Split(pathValues[i].(string), ".")
		node := rec
		for _, p := range path[:len(path)-1] {
			switch n := node.(type) {
			case map[string]any:
				node = n[p]
			case []any:
				k, _ := strconv.Atoi(p)
				node = n[k]
			}
		}
		last, v := path[len(path)-1], pathValues[i+1]
		switch n := node.(type) {
		case map[string]any:
			if v == del {
				delete(n, last)
			} else {
				n[last] = v
			}
		case []any:
			k, _ := strconv.Atoi(last)
			n[k] = v
		default:
			t.Fatalf("no %s in %s", pathValues[i], raw)
		}
	}
	out, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func num(s string) json.Number { return json.Number(s) }

func TestRules(t *testing.T) {
	book := sampleBook(t)
	good := func(dt dataset.DataType, i int) string { return string(book[dt][i]) }
	inv, bill, je := good(dataset.Invoices, 0), good(dataset.Bills, 0), good(dataset.JournalEntries, 1)
	cust, supp := good(dataset.Customers, 0), good(dataset.Suppliers, 0)
	acct, rate, co := good(dataset.ChartOfAccounts, 0), good(dataset.TaxRates, 0), good(dataset.Company, 0)
	all := bookLookup(t)

	tests := []struct {
		name   string
		dt     dataset.DataType
		lookup Lookup
		recs   []string
		want   []string
	}{
		// Records of every type pass as they are.
		{"good invoice", dataset.Invoices, all, []string{inv}, nil},
		{"good bill", dataset.Bills, all, []string{bill}, nil},
		{"good journal", dataset.JournalEntries, all, []string{je}, nil},
		{"good customer", dataset.Customers, all, []string{cust}, nil},
		{"good supplier", dataset.Suppliers, all, []string{supp}, nil},
		{"good account", dataset.ChartOfAccounts, all, []string{acct}, nil},
		{"good tax rate", dataset.TaxRates, all, []string{rate}, nil},
		{"good company", dataset.Company, all, []string{co}, nil},
		{"amounts as strings", dataset.Invoices, all, []string{edit(t, inv, "subTotal", "697.5", "totalAmount", "837")}, nil},
		{"no lines: totals only", dataset.Invoices, all, []string{edit(t, inv, "lineItems", del)}, nil},
		{"no lookup: references unchecked", dataset.Invoices, nil, []string{edit(t, inv, "customerRef.id", "C999")}, nil},

		// Every record.
		{"malformed", dataset.Customers, all, []string{edit(t, cust, "customerName", 5)}, []string{RuleMalformed}},
		{"bad decimal", dataset.Invoices, all, []string{edit(t, inv, "totalAmount", "837,00")}, []string{RuleDecimal}},
		{"blank id", dataset.Customers, all, []string{edit(t, cust, "id", " ")}, []string{RuleID}},
		{"duplicate id", dataset.Customers, all, []string{cust, edit(t, cust, "customerName", "Other")}, []string{RuleUniqueID}},
		{"bad date", dataset.Invoices, all, []string{edit(t, inv, "issueDate", "02/05/2024")}, []string{RuleDate}},
		{"bad modifiedDate", dataset.Customers, all, []string{edit(t, cust, "modifiedDate", "yesterday")}, []string{RuleDate}},
		{"dates that are", dataset.Invoices, all, []string{edit(t, inv, "issueDate", "2024-05-02", "dueDate", "2024-06-01T00:00:00.5Z",
			"sourceModifiedDate", "2024-06-01T10:00:00+01:00")}, nil},

		// Company, accounts, tax rates, customers, suppliers.
		{"company name", dataset.Company, all, []string{edit(t, co, "companyName", del)}, []string{RuleCompanyRequired}},
		{"two companies", dataset.Company, all, []string{co, edit(t, co, "id", "other")}, []string{RuleCompanySingle + "(w)"}},
		{"account name", dataset.ChartOfAccounts, all, []string{edit(t, acct, "name", "")}, []string{RuleAccountRequired}},
		{"account type", dataset.ChartOfAccounts, all, []string{edit(t, acct, "type", "Assets")}, []string{RuleAccountType}},
		{"account status", dataset.ChartOfAccounts, all, []string{edit(t, acct, "status", "Deleted")}, []string{RuleAccountStatus}},
		{"tax rate name", dataset.TaxRates, all, []string{edit(t, rate, "name", del)}, []string{RuleTaxRateRequired}},
		{"tax rate status", dataset.TaxRates, all, []string{edit(t, rate, "status", "active")}, []string{RuleTaxRateStatus}},
		{"customer name", dataset.Customers, all, []string{edit(t, cust, "customerName", del)}, []string{RuleCustomerRequired}},
		{"customer status", dataset.Customers, all, []string{edit(t, cust, "status", "Open")}, []string{RuleCustomerStatus}},
		{"supplier name", dataset.Suppliers, all, []string{edit(t, supp, "supplierName", " ")}, []string{RuleSupplierRequired}},
		{"supplier status", dataset.Suppliers, all, []string{edit(t, supp, "status", "Paid")}, []string{RuleSupplierStatus}},

		// Invoices.
		{"invoice customer", dataset.Invoices, all, []string{edit(t, inv, "customerRef", del)}, []string{RuleInvoiceRequired}},
		{"invoice issueDate", dataset.Invoices, all, []string{edit(t, inv, "issueDate", del)}, []string{RuleInvoiceRequired}},
		{"invoice totalAmount", dataset.Invoices, all, []string{edit(t, inv, "totalAmount", del)}, []string{RuleInvoiceRequired}},
		{"invoice status", dataset.Invoices, all, []string{edit(t, inv, "status", "Open")}, []string{RuleInvoiceStatus}},
		{"unknown customer", dataset.Invoices, all, []string{edit(t, inv, "customerRef.id", "C999")}, []string{RuleInvoiceCustomerRef}},
		{"customers never synced", dataset.Invoices, bookLookup(t, dataset.Customers),
			[]string{inv, edit(t, inv, "id", "INV-X", "customerRef.id", "C999")}, []string{RuleInvoiceCustomerRef + "(w)"}},
		{"unknown account", dataset.Invoices, all, []string{edit(t, inv, "lineItems.1.accountRef.id", "9999")}, []string{RuleInvoiceAccountRef}},
		{"account ref without id", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.accountRef.id", "")}, []string{RuleInvoiceAccountRef}},
		{"unknown tax rate", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.taxRateRef.id", "VAT99")}, []string{RuleInvoiceTaxRateRef}},
		{"lines' subTotal", dataset.Invoices, all, []string{edit(t, inv, "subTotal", num("697.49"), "totalTaxAmount", num("139.51"))},
			[]string{RuleInvoiceLineItemsSum, RuleInvoiceLineItemsTaxSum}},
		{"lines' tax", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.taxAmount", num("91.49"), "lineItems.0.subTotal", num("457.51"))},
			[]string{RuleInvoiceLineItemQuantity + "(w)", RuleInvoiceLineItemsSum, RuleInvoiceLineItemsTaxSum}},
		{"total", dataset.Invoices, all, []string{edit(t, inv, "totalAmount", num("837.01"))}, []string{RuleInvoiceTotal}},
		{"line total", dataset.Invoices, all, []string{edit(t, inv, "lineItems.1.totalAmount", num("288.01"))}, []string{RuleInvoiceLineItemTotal}},
		{"quantity × unit", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.unitAmount", num("45.7501"))},
			[]string{RuleInvoiceLineItemQuantity + "(w)"}},
		{"discount amount", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.unitAmount", num("46.75"), "lineItems.0.discountAmount", num("10"))}, nil},
		{"discount percentage", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.unitAmount", num("50.8333"),
			"lineItems.0.discountPercentage", num("10"))}, []string{RuleInvoiceLineItemQuantity + "(w)"}},
		{"exact discount percentage", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.unitAmount", num("91.5"),
			"lineItems.0.discountPercentage", num("50"))}, nil},
		{"amountDue", dataset.Invoices, all, []string{edit(t, inv, "amountDue", num("837.01"))}, []string{RuleInvoiceAmountDue + "(w)"}},
		{"credit note amountDue", dataset.Invoices, all, []string{edit(t, inv, "lineItems", del, "subTotal", num("-10"),
			"totalTaxAmount", num("-2"), "totalAmount", num("-12"), "amountDue", num("-12"))}, nil},
		{"line without tax: sum not checked", dataset.Invoices, all, []string{edit(t, inv, "lineItems.0.taxAmount", del)}, nil},

		// Bills.
		{"bill supplier", dataset.Bills, all, []string{edit(t, bill, "supplierRef.id", "")}, []string{RuleBillRequired}},
		{"bill status", dataset.Bills, all, []string{edit(t, bill, "status", "Submitted")}, []string{RuleBillStatus}},
		{"unknown supplier", dataset.Bills, all, []string{edit(t, bill, "supplierRef.id", "S999")}, []string{RuleBillSupplierRef}},
		{"suppliers never synced", dataset.Bills, bookLookup(t, dataset.Suppliers, dataset.ChartOfAccounts),
			[]string{bill}, []string{RuleBillSupplierRef + "(w)", RuleBillAccountRef + "(w)"}},
		{"bill account", dataset.Bills, all, []string{edit(t, bill, "lineItems.0.accountRef.id", "4001")}, []string{RuleBillAccountRef}},
		{"bill tax rate", dataset.Bills, all, []string{edit(t, bill, "lineItems.0.taxRateRef", map[string]any{"name": "x"})}, []string{RuleBillTaxRateRef}},
		{"bill lines' tax", dataset.Bills, all, []string{edit(t, bill, "taxAmount", num("62.01"), "totalAmount", num("372.01"))},
			[]string{RuleBillLineItemsTaxSum}},
		{"bill lines' subTotal", dataset.Bills, all, []string{edit(t, bill, "subTotal", num("300"))}, []string{RuleBillLineItemsSum, RuleBillTotal}},
		{"bill line total", dataset.Bills, all, []string{edit(t, bill, "lineItems.0.totalAmount", num("372.10"))}, []string{RuleBillLineItemTotal}},
		{"bill quantity", dataset.Bills, all, []string{edit(t, bill, "lineItems.0.quantity", num("21"))}, []string{RuleBillLineItemQuantity + "(w)"}},
		{"bill amountDue", dataset.Bills, all, []string{edit(t, bill, "amountDue", num("400"))}, []string{RuleBillAmountDue + "(w)"}},

		// Journal entries.
		{"unbalanced", dataset.JournalEntries, all, []string{edit(t, je, "journalLines.2.netAmount", num("-20.01"))}, []string{RuleJournalBalanced}},
		{"balanced at other scales", dataset.JournalEntries, all, []string{edit(t, je, "journalLines.0.netAmount", "45.2",
			"journalLines.2.netAmount", num("-20"))}, nil},
		{"journal account", dataset.JournalEntries, all, []string{edit(t, je, "journalLines.0.accountRef.id", "9999")}, []string{RuleJournalAccountRef}},
		{"journal line account", dataset.JournalEntries, all, []string{edit(t, je, "journalLines.0.accountRef", del)}, []string{RuleJournalRequired}},
		{"journal line amount", dataset.JournalEntries, all, []string{edit(t, je, "journalLines.1.netAmount", del)}, []string{RuleJournalRequired}},
		{"journal without lines", dataset.JournalEntries, all, []string{edit(t, je, "journalLines", []any{})}, []string{RuleJournalRequired}},
		{"journal date", dataset.JournalEntries, all, []string{edit(t, je, "postedOn", del)}, []string{RuleJournalRequired}},
		{"currencies", dataset.JournalEntries, all, []string{edit(t, je, "journalLines.0.currency", "EUR",
			"journalLines.0.netAmount", num("50"))}, []string{RuleJournalCurrencies + "(w)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := validate(t, tt.dt, tt.lookup, tt.recs...)
			got := rules(v.Findings())
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v\nfindings %+v", got, tt.want, v.Findings())
			}
			errs := 0
			for _, r := range tt.want {
				if !strings.HasSuffix(r, "(w)") {
					errs++
				}
			}
			if v.Errors() != errs || v.Warnings() != len(tt.want)-errs {
				t.Errorf("counts %d errors %d warnings, want %d and %d", v.Errors(), v.Warnings(), errs, len(tt.want)-errs)
			}
		})
	}
}

func TestFindingMessages(t *testing.T) {
	book := sampleBook(t)
	inv := edit(t, string(book[dataset.Invoices][0]), "subTotal", num("697.49"))
	v := validate(t, dataset.Invoices, bookLookup(t), inv)
	f := v.Findings()
	if len(f) != 2 || f[0].ItemID != "INV-001" || f[0].Warning ||
		f[0].Message != "the lines' subTotal add up to 697.50, but subTotal is 697.49" ||
		f[1].Message != "subTotal 697.49 + totalTaxAmount 139.50 is 836.99, but totalAmount is 837.00" {
		t.Errorf("findings %+v", f)
	}
	je := edit(t, string(book[dataset.JournalEntries][0]), "journalLines.1.netAmount", num("-4999.99"))
	f = validate(t, dataset.JournalEntries, bookLookup(t), je).Findings()
	if len(f) != 1 || !strings.Contains(f[0].Message, "add up to 0.01, not 0") {
		t.Errorf("findings %+v", f)
	}
}

func TestLookupAskedOncePerRecord(t *testing.T) {
	book := sampleBook(t)
	l := bookLookup(t)
	v := NewValidator(dataset.Invoices, l)
	for i := range 50 {
		raw := edit(t, string(book[dataset.Invoices][0]), "id", fmt.Sprint("INV-", i))
		if err := v.Add([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	// C001, account 4000, tax rate VAT20.
	if l.calls != 3 || v.Errors()+v.Warnings() != 0 {
		t.Errorf("%d lookups, %d findings; want 3 and none", l.calls, v.Errors()+v.Warnings())
	}
	none := &memLookup{}
	v = NewValidator(dataset.Invoices, none)
	for i := range 50 {
		v.Add([]byte(edit(t, string(book[dataset.Invoices][0]), "id", fmt.Sprint("INV-", i))))
	}
	// One per type, then no more: each type never synced warns once.
	if none.calls != 3 || v.Warnings() != 3 || v.Errors() != 0 {
		t.Errorf("%d lookups, %d warnings, %d errors; want 3, 3, 0", none.calls, v.Warnings(), v.Errors())
	}
}

func TestLookupFailure(t *testing.T) {
	boom := errors.New("disk on fire")
	v := NewValidator(dataset.Invoices, &memLookup{err: boom})
	err := v.Add(sampleBook(t)[dataset.Invoices][0])
	if !errors.Is(err, boom) {
		t.Errorf("Add = %v, want the lookup's error", err)
	}
}

func TestFindingsCapped(t *testing.T) {
	v := NewValidator(dataset.Customers, nil)
	const n = MaxFindings + 500
	for i := range n {
		v.Add(fmt.Appendf(nil, `{"id":"C%d","status":"Open"}`, i)) // two errors each
	}
	fs := v.Findings()
	if v.Errors() != 2*n || len(fs) != MaxFindings+1 {
		t.Fatalf("%d errors, %d findings; want %d and %d", v.Errors(), len(fs), 2*n, MaxFindings+1)
	}
	last := fs[len(fs)-1]
	if last.RuleID != RuleTruncated || last.Warning || last.Message != fmt.Sprintf("%d more errors were found and not kept", 2*n-MaxFindings) {
		t.Errorf("last finding %+v", last)
	}

	// Warnings have a cap of their own: errors found after many warnings
	// are kept.
	w := NewValidator(dataset.Company, nil)
	co := []byte(`{"id":"c","companyName":"x"}`)
	for i := range MaxFindings + 10 {
		w.Add(bytes.Replace(co, []byte(`"c"`), fmt.Appendf(nil, `"c%d"`, i), 1))
	}
	w.Add([]byte(`{"id":"bad"}`))
	got := rules(w.Findings())
	if w.Warnings() != MaxFindings+10 || !slices.Contains(got, RuleCompanyRequired) || got[len(got)-1] != RuleTruncated+"(w)" {
		t.Errorf("%d warnings; findings end %v", w.Warnings(), got[len(got)-3:])
	}
}
