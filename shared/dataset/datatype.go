package dataset

import (
	"slices"
	"strings"
)

// DataType names a kind of record in the standard model, spelled as Codat
// spells it.
type DataType string

// The data types of Ferry's standard model.
const (
	Company         DataType = "company"
	ChartOfAccounts DataType = "chartOfAccounts"
	Customers       DataType = "customers"
	Suppliers       DataType = "suppliers"
	Invoices        DataType = "invoices"
	Bills           DataType = "bills"
	JournalEntries  DataType = "journalEntries"
	TaxRates        DataType = "taxRates"
	CreditNotes     DataType = "creditNotes"
	BillCreditNotes DataType = "billCreditNotes"
	Payments        DataType = "payments"
	BillPayments    DataType = "billPayments"
	BankAccounts    DataType = "bankAccounts"
)

// DataTypes lists every data type in the order a full sync fetches them:
// the things others refer to come first (payments refer to invoices, bills
// and credit notes). The types a lender reads came later and follow the
// first eight, so that those keep their place in the default sync order.
var DataTypes = []DataType{
	Company, ChartOfAccounts, TaxRates, Customers, Suppliers, Invoices, Bills, JournalEntries,
	CreditNotes, BillCreditNotes, Payments, BillPayments, BankAccounts,
}

// Valid reports whether t is one of DataTypes.
func (t DataType) Valid() bool { return slices.Contains(DataTypes, t) }

// DataTypeNames returns the data types joined by ", ", for error messages.
func DataTypeNames() string {
	names := make([]string, len(DataTypes))
	for i, t := range DataTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
