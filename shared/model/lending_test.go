package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestLendingRules: payments, bill payments, credit notes and bank
// accounts of the sample book pass, and each rule of theirs fires on the
// record it is about.
func TestLendingRules(t *testing.T) {
	book := sampleBook(t)
	good := func(dt dataset.DataType) string { return string(book[dt][0]) }
	pay, bpay := good(dataset.Payments), good(dataset.BillPayments)
	cn, bcn, bank := good(dataset.CreditNotes), good(dataset.BillCreditNotes), good(dataset.BankAccounts)
	all := bookLookup(t)
	// offset is a payment of nothing that sets credit note CN-001 against
	// invoice INV-002, as GnuCash records one.
	offset := edit(t, pay, "accountRef", del, "totalAmount", num("0"), "lines", []any{
		map[string]any{"amount": num("30"), "links": []any{map[string]any{"type": "Invoice", "id": "INV-002", "amount": num("-30")}}},
		map[string]any{"amount": num("-30"), "links": []any{map[string]any{"type": "CreditNote", "id": "CN-001", "amount": num("30")}}},
	})
	tests := []struct {
		name   string
		dt     dataset.DataType
		lookup Lookup
		recs   []string
		want   []string
	}{
		{"good payment", dataset.Payments, all, []string{pay}, nil},
		{"good bill payment", dataset.BillPayments, all, []string{bpay}, nil},
		{"good credit note", dataset.CreditNotes, all, []string{cn}, nil},
		{"good bill credit note", dataset.BillCreditNotes, all, []string{bcn}, nil},
		{"good bank account", dataset.BankAccounts, all, []string{bank}, nil},
		{"credit set against an invoice", dataset.Payments, all, []string{offset}, nil},
		{"payment on account", dataset.Payments, all, []string{edit(t, pay, "lines.0.links.0.type", "PaymentOnAccount",
			"lines.0.links.0.id", "C001")}, nil},

		{"payment date", dataset.Payments, all, []string{edit(t, pay, "date", del)}, []string{RulePaymentRequired}},
		{"payment total", dataset.Payments, all, []string{edit(t, pay, "totalAmount", del)}, []string{RulePaymentRequired}},
		{"line amount", dataset.Payments, all, []string{edit(t, pay, "lines.0.amount", del)}, []string{RulePaymentRequired}},
		{"lines sum", dataset.Payments, all, []string{edit(t, pay, "totalAmount", num("837.01"))}, []string{RulePaymentLinesSum}},
		{"links sum", dataset.Payments, all, []string{edit(t, pay, "lines.0.links.0.amount", num("-836.99"))}, []string{RulePaymentLinksSum}},
		{"links in another currency", dataset.Payments, all, []string{edit(t, pay, "lines.0.links.0.amount", num("-700"),
			"lines.0.links.0.currencyRate", num("1.19"))}, nil},
		{"unknown invoice", dataset.Payments, all, []string{edit(t, pay, "lines.0.links.0.id", "INV-999")}, []string{RulePaymentLinkRef}},
		{"bill on a payment", dataset.Payments, all, []string{edit(t, pay, "lines.0.links.0.type", "Bill")}, []string{RulePaymentLinkType}},
		{"link without id", dataset.Payments, all, []string{edit(t, pay, "lines.0.links.0.id", del)}, []string{RulePaymentLinkRef}},
		{"unknown customer", dataset.Payments, all, []string{edit(t, pay, "customerRef.id", "C999")}, []string{RulePaymentPartyRef}},
		{"unknown account", dataset.Payments, all, []string{edit(t, pay, "accountRef.id", "9999")}, []string{RulePaymentAccountRef}},
		{"unknown credit note", dataset.Payments, all, []string{edit(t, offset, "lines.1.links.0.id", "CN-999")}, []string{RulePaymentLinkRef}},
		{"invoices never synced", dataset.Payments, bookLookup(t, dataset.Invoices), []string{pay}, []string{RulePaymentLinkRef + "(w)"}},
		{"bad allocation date", dataset.Payments, all, []string{edit(t, pay, "lines.0.allocatedOnDate", "30/05/2024")}, []string{RuleDate}},

		{"bill payment lines sum", dataset.BillPayments, all, []string{edit(t, bpay, "totalAmount", num("1000"))}, []string{RuleBillPaymentLinesSum}},
		{"bill payment links sum", dataset.BillPayments, all, []string{edit(t, bpay, "lines.0.links.0.amount", num("1200"))},
			[]string{RuleBillPaymentLinksSum}},
		{"unknown bill", dataset.BillPayments, all, []string{edit(t, bpay, "lines.0.links.0.id", "BILL-999")}, []string{RuleBillPaymentLinkRef}},
		{"invoice on a bill payment", dataset.BillPayments, all, []string{edit(t, bpay, "lines.0.links.0.type", "Invoice")},
			[]string{RuleBillPaymentLinkType}},
		{"unknown supplier", dataset.BillPayments, all, []string{edit(t, bpay, "supplierRef.id", "S999")}, []string{RuleBillPaymentPartyRef}},
		{"bill credit note link", dataset.BillPayments, all, []string{edit(t, bpay, "lines.0.links.0.type", "CreditNote",
			"lines.0.links.0.id", "BCN-001")}, nil},

		{"credit note customer", dataset.CreditNotes, all, []string{edit(t, cn, "customerRef", del)}, []string{RuleCreditNoteRequired}},
		{"credit note status", dataset.CreditNotes, all, []string{edit(t, cn, "status", "Open")}, []string{RuleCreditNoteStatus}},
		{"credit note total", dataset.CreditNotes, all, []string{edit(t, cn, "totalAmount", num("31"))}, []string{RuleCreditNoteTotal}},
		{"credit note lines", dataset.CreditNotes, all, []string{edit(t, cn, "subTotal", num("26"), "totalAmount", num("31"))},
			[]string{RuleCreditNoteLineItemsSum}},
		{"remaining credit", dataset.CreditNotes, all, []string{edit(t, cn, "remainingCredit", num("31"))}, []string{RuleCreditNoteRemaining + "(w)"}},
		{"credit note unknown customer", dataset.CreditNotes, all, []string{edit(t, cn, "customerRef.id", "C999")},
			[]string{RuleCreditNoteCustomerRef}},
		{"bill credit note supplier", dataset.BillCreditNotes, all, []string{edit(t, bcn, "supplierRef.id", "S999")},
			[]string{RuleBillCreditNoteSupplierRef}},
		{"bill credit note total", dataset.BillCreditNotes, all, []string{edit(t, bcn, "totalTaxAmount", num("6"))},
			[]string{RuleBillCreditNoteLineItemsTaxSum, RuleBillCreditNoteTotal}},

		{"bank account name", dataset.BankAccounts, all, []string{edit(t, bank, "accountName", del)}, []string{RuleBankAccountRequired}},
		{"bank account type", dataset.BankAccounts, all, []string{edit(t, bank, "accountType", "Savings")}, []string{RuleBankAccountType}},
		{"bank account status", dataset.BankAccounts, all, []string{edit(t, bank, "status", "Closed")}, []string{RuleBankAccountStatus}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := validate(t, tt.dt, tt.lookup, tt.recs...)
			if got := rules(v.Findings()); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v\nfindings %+v", got, tt.want, v.Findings())
			}
		})
	}
}

// TestPaymentMessages: a sum that does not hold says both figures.
func TestPaymentMessages(t *testing.T) {
	pay := edit(t, string(sampleBook(t)[dataset.Payments][0]), "lines.0.links.0.amount", num("-800"))
	fs := validate(t, dataset.Payments, nil, pay).Findings()
	if len(fs) != 1 || !strings.Contains(fs[0].Message, "-800") || !strings.Contains(fs[0].Message, "837.00") || fs[0].ItemID != "PAY-001" {
		t.Errorf("findings %+v, want one naming -800 and 837.00 for PAY-001", fs)
	}
}
