package model

import (
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The rule ids: stable, for the validation results' ruleId. The package
// doc says what each checks.
const (
	RuleMalformed = "record.malformed"
	RuleDecimal   = "record.decimal"
	RuleID        = "record.id"
	RuleUniqueID  = "record.uniqueId"
	RuleDate      = "record.date"
	RuleTruncated = "validation.truncated"

	RuleCompanyRequired = "company.required"
	RuleCompanySingle   = "company.single"

	RuleAccountRequired = "account.required"
	RuleAccountType     = "account.type"
	RuleAccountStatus   = "account.status"

	RuleTaxRateRequired = "taxRate.required"
	RuleTaxRateStatus   = "taxRate.status"

	RuleCustomerRequired = "customer.required"
	RuleCustomerStatus   = "customer.status"
	RuleSupplierRequired = "supplier.required"
	RuleSupplierStatus   = "supplier.status"

	RuleJournalRequired   = "journalEntry.required"
	RuleJournalAccountRef = "journalEntry.accountRef"
	RuleJournalBalanced   = "journalEntry.balanced"
	RuleJournalCurrencies = "journalEntry.currencies"
)

// The rules of invoices and bills.
const (
	RuleInvoiceRequired         = "invoice.required"
	RuleInvoiceStatus           = "invoice.status"
	RuleInvoiceCustomerRef      = "invoice.customerRef"
	RuleInvoiceAccountRef       = "invoice.accountRef"
	RuleInvoiceTaxRateRef       = "invoice.taxRateRef"
	RuleInvoiceLineItemsSum     = "invoice.lineItemsSum"
	RuleInvoiceLineItemsTaxSum  = "invoice.lineItemsTaxSum"
	RuleInvoiceTotal            = "invoice.total"
	RuleInvoiceLineItemTotal    = "invoice.lineItemTotal"
	RuleInvoiceLineItemQuantity = "invoice.lineItemQuantity"
	RuleInvoiceAmountDue        = "invoice.amountDue"

	RuleBillRequired         = "bill.required"
	RuleBillStatus           = "bill.status"
	RuleBillSupplierRef      = "bill.supplierRef"
	RuleBillAccountRef       = "bill.accountRef"
	RuleBillTaxRateRef       = "bill.taxRateRef"
	RuleBillLineItemsSum     = "bill.lineItemsSum"
	RuleBillLineItemsTaxSum  = "bill.lineItemsTaxSum"
	RuleBillTotal            = "bill.total"
	RuleBillLineItemTotal    = "bill.lineItemTotal"
	RuleBillLineItemQuantity = "bill.lineItemQuantity"
	RuleBillAmountDue        = "bill.amountDue"
)

// docRules are the rule ids of invoices or of bills.
type docRules struct {
	required, status, partyRef, accountRef, taxRateRef  string
	lineItemsSum, lineItemsTaxSum, total, lineItemTotal string
	lineItemQuantity, amountDue                         string
}

var (
	invoiceRules = docRules{RuleInvoiceRequired, RuleInvoiceStatus, RuleInvoiceCustomerRef, RuleInvoiceAccountRef,
		RuleInvoiceTaxRateRef, RuleInvoiceLineItemsSum, RuleInvoiceLineItemsTaxSum, RuleInvoiceTotal,
		RuleInvoiceLineItemTotal, RuleInvoiceLineItemQuantity, RuleInvoiceAmountDue}
	billRules = docRules{RuleBillRequired, RuleBillStatus, RuleBillSupplierRef, RuleBillAccountRef,
		RuleBillTaxRateRef, RuleBillLineItemsSum, RuleBillLineItemsTaxSum, RuleBillTotal,
		RuleBillLineItemTotal, RuleBillLineItemQuantity, RuleBillAmountDue}
)

// checkRecord applies the rules of rec's data type.
func checkRecord(c *check, rec Record) {
	switch r := rec.(type) {
	case *Company:
		checkCompany(c, r)
	case *Account:
		checkAccount(c, r)
	case *TaxRate:
		checkTaxRate(c, r)
	case *Customer:
		checkParty(c, RuleCustomerRequired, RuleCustomerStatus, "customerName", r.CustomerName, &r.Contact, &r.Meta)
	case *Supplier:
		checkParty(c, RuleSupplierRequired, RuleSupplierStatus, "supplierName", r.SupplierName, &r.Contact, &r.Meta)
	case *Invoice:
		checkInvoice(c, r)
	case *Bill:
		checkBill(c, r)
	case *JournalEntry:
		checkJournal(c, r)
	case *CreditNote:
		checkCreditNote(c, r)
	case *BillCreditNote:
		checkBillCreditNote(c, r)
	case *Payment:
		checkPayment(c, paymentOf(r))
	case *BillPayment:
		checkPayment(c, billPaymentOf(r))
	case *BankAccount:
		checkBankAccount(c, r)
	}
}

// required reports each name whose value is blank.
func (c *check) required(rule string, fields ...string) {
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.TrimSpace(fields[i+1]) == "" {
			c.err(rule, "%s is required", fields[i])
		}
	}
}

// dates reports each non-empty date that is not one.
func (c *check) dates(fields ...any) {
	for i := 0; i+1 < len(fields); i += 2 {
		if d := fields[i+1].(Date); d != "" {
			if _, err := d.Time(); err != nil {
				c.err(RuleDate, "%s %q is %v", fields[i], clip(string(d)), err)
			}
		}
	}
}

func (c *check) meta(m *Meta) {
	c.dates("modifiedDate", m.ModifiedDate, "sourceModifiedDate", m.SourceModifiedDate)
}

func checkCompany(c *check, r *Company) {
	if c.v.records > 1 {
		c.warn(RuleCompanySingle, "the company dataset holds %d records; it should hold one", c.v.records)
	}
	c.required(RuleCompanyRequired, "companyName", r.CompanyName)
	c.meta(&r.Meta)
	c.dates("createdDate", r.CreatedDate, "financialYearStartDate", r.FinancialYearStartDate)
}

func checkAccount(c *check, r *Account) {
	c.required(RuleAccountRequired, "name", r.Name)
	if r.Type != "" && !r.Type.Valid() {
		c.err(RuleAccountType, "type %q is not one of %s", clip(string(r.Type)), list(AccountTypes))
	}
	if r.Status != "" && !r.Status.Valid() {
		c.err(RuleAccountStatus, "status %q is not one of %s", clip(string(r.Status)), list(AccountStatuses))
	}
	c.meta(&r.Meta)
}

func checkTaxRate(c *check, r *TaxRate) {
	c.required(RuleTaxRateRequired, "name", r.Name)
	if r.Status != "" && !r.Status.Valid() {
		c.err(RuleTaxRateStatus, "status %q is not one of %s", clip(string(r.Status)), list(Statuses))
	}
	c.meta(&r.Meta)
}

// checkParty checks a customer or a supplier.
func checkParty(c *check, requiredRule, statusRule, nameField, name string, ct *Contact, m *Meta) {
	c.required(requiredRule, nameField, name)
	if ct.Status != "" && !ct.Status.Valid() {
		c.err(statusRule, "status %q is not one of %s", clip(string(ct.Status)), list(Statuses))
	}
	c.meta(m)
}

func checkJournal(c *check, r *JournalEntry) {
	c.required(RuleJournalRequired, "postedOn", string(r.PostedOn))
	c.meta(&r.Meta)
	c.dates("postedOn", r.PostedOn, "createdOn", r.CreatedOn, "updatedOn", r.UpdatedOn)
	if len(r.JournalLines) == 0 {
		c.err(RuleJournalRequired, "journalLines is required: a journal entry has at least one line")
		return
	}
	sum, complete := Decimal{}, true
	currencies := map[string]bool{}
	for i, l := range r.JournalLines {
		line := fmt.Sprintf("journalLines[%d]", i)
		switch {
		case l.AccountRef == nil || strings.TrimSpace(l.AccountRef.ID) == "":
			c.err(RuleJournalRequired, "%s.accountRef.id is required", line)
		default:
			c.ref(RuleJournalAccountRef, dataset.ChartOfAccounts, l.AccountRef.ID, fmt.Sprintf("line %d account", i+1))
		}
		if l.NetAmount == nil {
			c.err(RuleJournalRequired, "%s.netAmount is required", line)
			complete = false
			continue
		}
		sum = sum.Add(*l.NetAmount)
		if l.Currency != "" {
			currencies[l.Currency] = true
		}
	}
	switch {
	case !complete:
	case len(currencies) > 1:
		c.warn(RuleJournalCurrencies, "the lines are in %d currencies, so whether they balance was not checked", len(currencies))
	case sum.Sign() != 0:
		c.err(RuleJournalBalanced, "the lines' netAmount add up to %s, not 0: debits and credits must balance", sum)
	}
}

// document is what invoices and bills have in common, for the rules they
// share.
type document struct {
	rules     docRules
	taxField  string // "totalTaxAmount" or "taxAmount"
	dueField  string // "amountDue", or a credit note's "remainingCredit"
	lines     []LineItem
	subTotal  *Decimal
	tax       *Decimal
	total     *Decimal
	amountDue *Decimal
}

func checkInvoice(c *check, r *Invoice) {
	d := &document{rules: invoiceRules, taxField: "totalTaxAmount", dueField: "amountDue", lines: r.LineItems, subTotal: r.SubTotal,
		tax: r.TotalTaxAmount, total: r.TotalAmount, amountDue: r.AmountDue}
	ref := ""
	if r.CustomerRef != nil {
		ref = r.CustomerRef.ID
	}
	c.required(d.rules.required, "customerRef.id", ref, "issueDate", string(r.IssueDate))
	if r.Status != "" && !r.Status.Valid() {
		c.err(d.rules.status, "status %q is not one of %s", clip(string(r.Status)), list(InvoiceStatuses))
	}
	c.meta(&r.Meta)
	c.dates("issueDate", r.IssueDate, "dueDate", r.DueDate, "paidOnDate", r.PaidOnDate)
	if strings.TrimSpace(ref) != "" {
		c.ref(d.rules.partyRef, dataset.Customers, ref, "customer")
	}
	checkDocument(c, d)
}

func checkBill(c *check, r *Bill) {
	d := &document{rules: billRules, taxField: "taxAmount", dueField: "amountDue", lines: r.LineItems, subTotal: r.SubTotal,
		tax: r.TaxAmount, total: r.TotalAmount, amountDue: r.AmountDue}
	ref := ""
	if r.SupplierRef != nil {
		ref = r.SupplierRef.ID
	}
	c.required(d.rules.required, "supplierRef.id", ref, "issueDate", string(r.IssueDate))
	if r.Status != "" && !r.Status.Valid() {
		c.err(d.rules.status, "status %q is not one of %s", clip(string(r.Status)), list(BillStatuses))
	}
	c.meta(&r.Meta)
	c.dates("issueDate", r.IssueDate, "dueDate", r.DueDate)
	if strings.TrimSpace(ref) != "" {
		c.ref(d.rules.partyRef, dataset.Suppliers, ref, "supplier")
	}
	checkDocument(c, d)
}

// checkDocument applies the amount and line rules of invoices and bills.
// A rule compares only amounts the record states: a missing amount is
// never taken as zero.
func checkDocument(c *check, d *document) {
	if d.total == nil {
		c.err(d.rules.required, "totalAmount is required")
	}
	subs, taxes := Decimal{}, Decimal{}
	allSubs, allTaxes := true, true
	for i := range d.lines {
		l := &d.lines[i]
		checkLine(c, d, i, l)
		allSubs = allSubs && l.SubTotal != nil
		allTaxes = allTaxes && l.TaxAmount != nil
		if allSubs {
			subs = subs.Add(*l.SubTotal)
		}
		if allTaxes {
			taxes = taxes.Add(*l.TaxAmount)
		}
	}
	if len(d.lines) > 0 && allSubs && d.subTotal != nil && !subs.Equal(*d.subTotal) {
		c.err(d.rules.lineItemsSum, "the lines' subTotal add up to %s, but subTotal is %s", subs, d.subTotal)
	}
	if len(d.lines) > 0 && allTaxes && d.tax != nil && !taxes.Equal(*d.tax) {
		c.err(d.rules.lineItemsTaxSum, "the lines' taxAmount add up to %s, but %s is %s", taxes, d.taxField, d.tax)
	}
	if d.subTotal != nil && d.tax != nil && d.total != nil && !d.subTotal.Add(*d.tax).Equal(*d.total) {
		c.err(d.rules.total, "subTotal %s + %s %s is %s, but totalAmount is %s",
			d.subTotal, d.taxField, d.tax, d.subTotal.Add(*d.tax), d.total)
	}
	if d.amountDue != nil && d.total != nil && exceeds(*d.amountDue, *d.total) {
		c.warn(d.rules.amountDue, "%s %s is more than totalAmount %s", d.dueField, d.amountDue, d.total)
	}
}

// exceeds reports whether an amount due is beyond the total: above it,
// or for a negative total (a credit), below it.
func exceeds(due, total Decimal) bool {
	if total.Sign() < 0 {
		return due.Cmp(total) < 0
	}
	return due.Cmp(total) > 0
}

// checkLine checks line i (from 0) of an invoice or a bill.
func checkLine(c *check, d *document, i int, l *LineItem) {
	name := fmt.Sprintf("line %d", i+1)
	if l.AccountRef != nil {
		if strings.TrimSpace(l.AccountRef.ID) == "" {
			c.err(d.rules.accountRef, "%s has an accountRef with no id", name)
		} else {
			c.ref(d.rules.accountRef, dataset.ChartOfAccounts, l.AccountRef.ID, name+" account")
		}
	}
	if l.TaxRateRef != nil {
		if strings.TrimSpace(l.TaxRateRef.ID) == "" {
			c.err(d.rules.taxRateRef, "%s has a taxRateRef with no id", name)
		} else {
			c.ref(d.rules.taxRateRef, dataset.TaxRates, l.TaxRateRef.ID, name+" tax rate")
		}
	}
	if l.SubTotal != nil && l.TaxAmount != nil && l.TotalAmount != nil && !l.SubTotal.Add(*l.TaxAmount).Equal(*l.TotalAmount) {
		c.err(d.rules.lineItemTotal, "%s: subTotal %s + taxAmount %s is %s, but totalAmount is %s",
			name, l.SubTotal, l.TaxAmount, l.SubTotal.Add(*l.TaxAmount), l.TotalAmount)
	}
	if want, ok := lineAmount(l); ok && !want.Equal(*l.SubTotal) {
		c.warn(d.rules.lineItemQuantity, "%s: quantity %s × unitAmount %s%s is %s, but subTotal is %s",
			name, l.Quantity, l.UnitAmount, discountText(l), want, l.SubTotal)
	}
}

// lineAmount is a line's quantity × unitAmount less its discount (an
// amount, else a percentage), when the line states all it takes.
func lineAmount(l *LineItem) (Decimal, bool) {
	if l.Quantity == nil || l.UnitAmount == nil || l.SubTotal == nil {
		return Decimal{}, false
	}
	gross := l.Quantity.Mul(*l.UnitAmount)
	switch {
	case l.DiscountAmount != nil:
		return gross.Sub(*l.DiscountAmount), true
	case l.DiscountPercentage != nil:
		return gross.Mul(hundred.Sub(*l.DiscountPercentage)).Mul(hundredth), true
	}
	return gross, true
}

var (
	hundred   = MustDecimal("100")
	hundredth = MustDecimal("0.01")
)

func discountText(l *LineItem) string {
	switch {
	case l.DiscountAmount != nil:
		return " - discountAmount " + l.DiscountAmount.String()
	case l.DiscountPercentage != nil:
		return " less discountPercentage " + l.DiscountPercentage.String() + "%"
	}
	return ""
}

// list joins enum values for a message: "Asset, Liability or Equity".
func list[T ~string](vals []T) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = string(v)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
