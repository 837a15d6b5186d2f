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
)

// DataTypes lists every data type in the order a full sync fetches them:
// the things others refer to come first.
var DataTypes = []DataType{
	Company, ChartOfAccounts, TaxRates, Customers, Suppliers, Invoices, Bills, JournalEntries,
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
