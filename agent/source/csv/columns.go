package csv

import (
	"maps"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
)

// kind is how a column's cells become JSON values.
type kind uint8

const (
	text    kind = iota // a string, as written
	number              // a decimal number, kept exact as json.Number
	boolean             // true or false, in any case
	array               // a JSON array (of objects), amounts kept exact
	object              // a JSON object
	date                // a date as the standard model writes it
	// The enumerations: one of the model's values, in any case, written
	// as the model spells it.
	accountType
	accountStatus
	status
	invoiceStatus
	billStatus
	creditNoteStatus
	bankAccountType
)

func (k kind) String() string {
	if vs, ok := enums[k]; ok {
		return "one of " + strings.Join(vs, ", ")
	}
	return [...]string{"text", "a decimal number", "true or false", "a JSON array", "a JSON object",
		"a date (2024-05-02 or 2024-05-02T00:00:00)"}[k]
}

// enums are the values of each enumeration kind.
var enums = map[kind][]string{
	accountType:   names(model.AccountTypes),
	accountStatus: names(model.AccountStatuses),
	status:        names(model.Statuses),
	invoiceStatus: names(model.InvoiceStatuses),
	billStatus:    names(model.BillStatuses),

	creditNoteStatus: names(model.CreditNoteStatuses),
	bankAccountType:  names(model.BankAccountTypes),
}

func names[S ~string](vs []S) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// contact are the columns customers and suppliers share.
var contact = map[string]kind{
	"contactName": text, "emailAddress": text, "phone": text, "addresses": array,
	"taxNumber": text, "registrationNumber": text, "defaultCurrency": text, "status": status,
}

// columns are the columns each data type's file may have: the standard
// model's field names (Codat's), nested objects by dots, besides the
// common ones. A column not listed is refused, so that
// a misspelt one does not silently drop data.
var columns = map[dataset.DataType]map[string]kind{
	dataset.Company: {
		"companyName": text, "companyLegalName": text, "registrationNumber": text, "taxNumber": text,
		"baseCurrency": text, "financialYearStartDate": date, "createdDate": date,
		"addresses": array, "sourceUrls": object,
	},
	dataset.ChartOfAccounts: {
		"nominalCode": text, "name": text, "description": text, "fullyQualifiedCategory": text,
		"fullyQualifiedName": text, "type": accountType, "status": accountStatus, "currency": text,
		"currentBalance": number, "isBankAccount": boolean,
	},
	dataset.TaxRates: {
		"name": text, "code": text, "effectiveTaxRate": number, "totalTaxRate": number, "status": status,
	},
	dataset.Customers: with(contact, map[string]kind{"customerName": text}),
	dataset.Suppliers: with(contact, map[string]kind{"supplierName": text}),
	dataset.Invoices: {
		"invoiceNumber": text, "customerRef.id": text, "customerRef.companyName": text,
		"issueDate": date, "dueDate": date, "paidOnDate": date, "currency": text, "currencyRate": number,
		"lineItems": array, "subTotal": number, "totalDiscount": number, "totalTaxAmount": number,
		"totalAmount": number, "amountDue": number, "status": invoiceStatus, "note": text,
	},
	dataset.Bills: {
		"reference": text, "supplierRef.id": text, "supplierRef.supplierName": text,
		"issueDate": date, "dueDate": date, "currency": text, "currencyRate": number,
		"lineItems": array, "subTotal": number, "taxAmount": number, "totalAmount": number,
		"amountDue": number, "status": billStatus, "note": text,
	},
	dataset.JournalEntries: {
		"description": text, "postedOn": date, "createdOn": date, "updatedOn": date, "journalLines": array,
	},
	dataset.CreditNotes: with(credit, map[string]kind{
		"creditNoteNumber": text, "customerRef.id": text, "customerRef.companyName": text,
	}),
	dataset.BillCreditNotes: with(credit, map[string]kind{
		"billCreditNoteNumber": text, "supplierRef.id": text, "supplierRef.supplierName": text,
	}),
	dataset.Payments:     with(payment, map[string]kind{"customerRef.id": text, "customerRef.companyName": text}),
	dataset.BillPayments: with(payment, map[string]kind{"supplierRef.id": text, "supplierRef.supplierName": text}),
	dataset.BankAccounts: {
		"accountName": text, "accountType": bankAccountType, "nominalCode": text, "sortCode": text,
		"accountNumber": text, "iBan": text, "currency": text, "balance": number, "institution": text,
		"availableBalance": number, "overdraftLimit": number, "status": accountStatus,
	},
}

// credit are the columns credit notes, given and received, share.
var credit = map[string]kind{
	"issueDate": date, "allocatedOnDate": date, "currency": text, "currencyRate": number, "lineItems": array,
	"subTotal": number, "totalDiscount": number, "discountPercentage": number, "totalTaxAmount": number,
	"totalAmount": number, "remainingCredit": number, "status": creditNoteStatus, "note": text,
}

// payment are the columns payments and bill payments share: the lines
// with their links are one JSON array.
var payment = map[string]kind{
	"accountRef.id": text, "accountRef.name": text, "paymentMethodRef.id": text, "paymentMethodRef.name": text,
	"totalAmount": number, "currency": text, "currencyRate": number, "date": date, "note": text,
	"lines": array, "reference": text,
}

func with(a, b map[string]kind) map[string]kind {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

// common are the columns every data type may have.
var common = map[string]kind{"id": text, "sourceModifiedDate": date}

// columnKind says how dt's column name is read, and whether dt has it.
func columnKind(dt dataset.DataType, name string) (kind, bool) {
	if k, ok := common[name]; ok {
		return k, true
	}
	k, ok := columns[dt][name]
	return k, ok
}

// columnNames lists dt's columns, for an error message.
func columnNames(dt dataset.DataType) string {
	return strings.Join(slices.Sorted(maps.Keys(with(common, columns[dt]))), ", ")
}
