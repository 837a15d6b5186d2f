package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The rules of credit notes, payments and bank accounts.
const (
	RuleCreditNoteRequired         = "creditNote.required"
	RuleCreditNoteStatus           = "creditNote.status"
	RuleCreditNoteCustomerRef      = "creditNote.customerRef"
	RuleCreditNoteAccountRef       = "creditNote.accountRef"
	RuleCreditNoteTaxRateRef       = "creditNote.taxRateRef"
	RuleCreditNoteLineItemsSum     = "creditNote.lineItemsSum"
	RuleCreditNoteLineItemsTaxSum  = "creditNote.lineItemsTaxSum"
	RuleCreditNoteTotal            = "creditNote.total"
	RuleCreditNoteLineItemTotal    = "creditNote.lineItemTotal"
	RuleCreditNoteLineItemQuantity = "creditNote.lineItemQuantity"
	RuleCreditNoteRemaining        = "creditNote.remainingCredit"

	RuleBillCreditNoteRequired         = "billCreditNote.required"
	RuleBillCreditNoteStatus           = "billCreditNote.status"
	RuleBillCreditNoteSupplierRef      = "billCreditNote.supplierRef"
	RuleBillCreditNoteAccountRef       = "billCreditNote.accountRef"
	RuleBillCreditNoteTaxRateRef       = "billCreditNote.taxRateRef"
	RuleBillCreditNoteLineItemsSum     = "billCreditNote.lineItemsSum"
	RuleBillCreditNoteLineItemsTaxSum  = "billCreditNote.lineItemsTaxSum"
	RuleBillCreditNoteTotal            = "billCreditNote.total"
	RuleBillCreditNoteLineItemTotal    = "billCreditNote.lineItemTotal"
	RuleBillCreditNoteLineItemQuantity = "billCreditNote.lineItemQuantity"
	RuleBillCreditNoteRemaining        = "billCreditNote.remainingCredit"

	RulePaymentRequired       = "payment.required"
	RulePaymentPartyRef       = "payment.customerRef"
	RulePaymentAccountRef     = "payment.accountRef"
	RulePaymentLinkType       = "payment.linkType"
	RulePaymentLinkRef        = "payment.linkRef"
	RulePaymentLinesSum       = "payment.linesSum"
	RulePaymentLinksSum       = "payment.linksSum"
	RuleBillPaymentRequired   = "billPayment.required"
	RuleBillPaymentPartyRef   = "billPayment.supplierRef"
	RuleBillPaymentAccountRef = "billPayment.accountRef"
	RuleBillPaymentLinkType   = "billPayment.linkType"
	RuleBillPaymentLinkRef    = "billPayment.linkRef"
	RuleBillPaymentLinesSum   = "billPayment.linesSum"
	RuleBillPaymentLinksSum   = "billPayment.linksSum"

	RuleBankAccountRequired = "bankAccount.required"
	RuleBankAccountType     = "bankAccount.type"
	RuleBankAccountStatus   = "bankAccount.status"
)

var (
	creditNoteRules = docRules{RuleCreditNoteRequired, RuleCreditNoteStatus, RuleCreditNoteCustomerRef,
		RuleCreditNoteAccountRef, RuleCreditNoteTaxRateRef, RuleCreditNoteLineItemsSum, RuleCreditNoteLineItemsTaxSum,
		RuleCreditNoteTotal, RuleCreditNoteLineItemTotal, RuleCreditNoteLineItemQuantity, RuleCreditNoteRemaining}
	billCreditNoteRules = docRules{RuleBillCreditNoteRequired, RuleBillCreditNoteStatus, RuleBillCreditNoteSupplierRef,
		RuleBillCreditNoteAccountRef, RuleBillCreditNoteTaxRateRef, RuleBillCreditNoteLineItemsSum,
		RuleBillCreditNoteLineItemsTaxSum, RuleBillCreditNoteTotal, RuleBillCreditNoteLineItemTotal,
		RuleBillCreditNoteLineItemQuantity, RuleBillCreditNoteRemaining}
)

func checkCreditNote(c *check, r *CreditNote) {
	ref := ""
	if r.CustomerRef != nil {
		ref = r.CustomerRef.ID
	}
	checkCredit(c, creditNoteRules, dataset.Customers, "customerRef.id", ref, r.Status, &r.Meta,
		r.IssueDate, r.AllocatedOnDate, &document{rules: creditNoteRules, taxField: "totalTaxAmount",
			dueField: "remainingCredit", lines: r.LineItems, subTotal: r.SubTotal, tax: r.TotalTaxAmount,
			total: r.TotalAmount, amountDue: r.RemainingCredit})
}

func checkBillCreditNote(c *check, r *BillCreditNote) {
	ref := ""
	if r.SupplierRef != nil {
		ref = r.SupplierRef.ID
	}
	checkCredit(c, billCreditNoteRules, dataset.Suppliers, "supplierRef.id", ref, r.Status, &r.Meta,
		r.IssueDate, r.AllocatedOnDate, &document{rules: billCreditNoteRules, taxField: "totalTaxAmount",
			dueField: "remainingCredit", lines: r.LineItems, subTotal: r.SubTotal, tax: r.TotalTaxAmount,
			total: r.TotalAmount, amountDue: r.RemainingCredit})
}

// checkCredit applies the rules of a credit note, given or received: those
// of invoices, with remainingCredit for amountDue.
func checkCredit(c *check, rules docRules, party dataset.DataType, refField, ref string, status CreditNoteStatus,
	m *Meta, issued, allocated Date, d *document) {
	c.required(rules.required, refField, ref, "issueDate", string(issued))
	if status != "" && !status.Valid() {
		c.err(rules.status, "status %q is not one of %s", clip(string(status)), list(CreditNoteStatuses))
	}
	c.meta(m)
	c.dates("issueDate", issued, "allocatedOnDate", allocated)
	if strings.TrimSpace(ref) != "" {
		c.ref(rules.partyRef, party, ref, strings.TrimSuffix(string(party), "s"))
	}
	checkDocument(c, d)
}

// paymentKind is what payments and bill payments differ in, for the rules
// they share.
type paymentKind struct {
	required, partyRef, accountRef, linkType, linkRef, linesSum, linksSum string
	partyField                                                            string // "customerRef.id"
	party                                                                 dataset.DataType
	linkTypes                                                             []PaymentLinkType
	// targets is the data type each link type's id refers to; a link
	// type not here refers to a sibling payment, not checked.
	targets map[PaymentLinkType]dataset.DataType
}

var (
	paymentRules = paymentKind{RulePaymentRequired, RulePaymentPartyRef, RulePaymentAccountRef, RulePaymentLinkType,
		RulePaymentLinkRef, RulePaymentLinesSum, RulePaymentLinksSum, "customerRef.id", dataset.Customers, PaymentLinkTypes,
		map[PaymentLinkType]dataset.DataType{PaymentLinkInvoice: dataset.Invoices, PaymentLinkCreditNote: dataset.CreditNotes,
			PaymentLinkPaymentOnAccount: dataset.Customers, PaymentLinkOther: dataset.Customers,
			PaymentLinkManualJournal: dataset.JournalEntries}}
	billPaymentRules = paymentKind{RuleBillPaymentRequired, RuleBillPaymentPartyRef, RuleBillPaymentAccountRef,
		RuleBillPaymentLinkType, RuleBillPaymentLinkRef, RuleBillPaymentLinesSum, RuleBillPaymentLinksSum,
		"supplierRef.id", dataset.Suppliers, BillPaymentLinkTypes,
		map[PaymentLinkType]dataset.DataType{PaymentLinkBill: dataset.Bills, PaymentLinkCreditNote: dataset.BillCreditNotes,
			PaymentLinkPaymentOnAccount: dataset.Suppliers, PaymentLinkOther: dataset.Suppliers,
			PaymentLinkManualJournal: dataset.JournalEntries}}
)

// payment is what payments and bill payments have in common.
type payment struct {
	kind       *paymentKind
	meta       *Meta
	partyRef   *string // nil when the record has no party ref
	accountRef *AccountRef
	total      *Decimal
	date       Date
	lines      []PaymentLine
}

func paymentOf(r *Payment) *payment {
	p := &payment{kind: &paymentRules, meta: &r.Meta, accountRef: r.AccountRef, total: r.TotalAmount, date: r.Date, lines: r.Lines}
	if r.CustomerRef != nil {
		p.partyRef = &r.CustomerRef.ID
	}
	return p
}

func billPaymentOf(r *BillPayment) *payment {
	p := &payment{kind: &billPaymentRules, meta: &r.Meta, accountRef: r.AccountRef, total: r.TotalAmount, date: r.Date, lines: r.Lines}
	if r.SupplierRef != nil {
		p.partyRef = &r.SupplierRef.ID
	}
	return p
}

// checkPayment applies the rules of a payment or a bill payment: the lines
// add up to the payment, each line's links offset the line, and every
// reference resolves.
func checkPayment(c *check, p *payment) {
	k := p.kind
	c.required(k.required, "date", string(p.date))
	if p.total == nil {
		c.err(k.required, "totalAmount is required")
	}
	c.meta(p.meta)
	c.dates("date", p.date)
	if p.partyRef != nil {
		if strings.TrimSpace(*p.partyRef) == "" {
			c.err(k.required, "%s is required when the reference is given", k.partyField)
		} else {
			c.ref(k.partyRef, k.party, *p.partyRef, strings.TrimSuffix(string(k.party), "s"))
		}
	}
	if p.accountRef != nil {
		if strings.TrimSpace(p.accountRef.ID) == "" {
			c.err(k.accountRef, "accountRef has no id")
		} else {
			c.ref(k.accountRef, dataset.ChartOfAccounts, p.accountRef.ID, "account")
		}
	}
	sum, all := Decimal{}, true
	for i := range p.lines {
		l := &p.lines[i]
		checkPaymentLine(c, k, i, l)
		if l.Amount == nil {
			all = false
			continue
		}
		sum = sum.Add(*l.Amount)
	}
	if len(p.lines) > 0 && all && p.total != nil && !sum.Equal(*p.total) {
		c.err(k.linesSum, "the lines' amount add up to %s, but totalAmount is %s", sum, p.total)
	}
}

// checkPaymentLine checks line i (from 0) of a payment: its amount is
// given, its links are of known types and point at synced records, and
// their amounts (when in the payment's currency) offset the line's.
func checkPaymentLine(c *check, k *paymentKind, i int, l *PaymentLine) {
	name := fmt.Sprintf("line %d", i+1)
	if l.Amount == nil {
		c.err(k.required, "lines[%d].amount is required", i)
	}
	c.dates(fmt.Sprintf("lines[%d].allocatedOnDate", i), l.AllocatedOnDate)
	sum, comparable := Decimal{}, l.Amount != nil && len(l.Links) > 0
	for j, ln := range l.Links {
		what := fmt.Sprintf("%s link %d", name, j+1)
		if !slices.Contains(k.linkTypes, ln.Type) {
			c.err(k.linkType, "%s: type %q is not one of %s", what, clip(string(ln.Type)), list(k.linkTypes))
		}
		if dt, ok := k.targets[ln.Type]; ok {
			if strings.TrimSpace(ln.ID) == "" {
				c.err(k.linkRef, "%s (%s) has no id", what, ln.Type)
			} else {
				c.ref(k.linkRef, dt, ln.ID, what)
			}
		}
		if ln.Amount == nil || ln.CurrencyRate != nil {
			comparable = false
			continue
		}
		sum = sum.Add(*ln.Amount)
	}
	if comparable && sum.Add(*l.Amount).Sign() != 0 {
		c.err(k.linksSum, "%s: the links' amount add up to %s; with the line's amount %s they should make 0",
			name, sum, l.Amount)
	}
}

func checkBankAccount(c *check, r *BankAccount) {
	c.required(RuleBankAccountRequired, "accountName", r.AccountName)
	if r.AccountType != "" && !r.AccountType.Valid() {
		c.err(RuleBankAccountType, "accountType %q is not one of %s", clip(string(r.AccountType)), list(BankAccountTypes))
	}
	if r.Status != "" && !r.Status.Valid() {
		c.err(RuleBankAccountStatus, "status %q is not one of %s", clip(string(r.Status)), list(AccountStatuses))
	}
	c.meta(&r.Meta)
}
