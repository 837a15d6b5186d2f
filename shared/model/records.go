package model

import (
	"errors"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// Record is one record of the standard model: *Company, *Account,
// *Customer, *Supplier, *Invoice, *Bill, *JournalEntry or *TaxRate.
type Record interface {
	// RecordID is the record's id, unique within its data type.
	RecordID() string
	// DataType is the data type the record belongs to.
	DataType() dataset.DataType
}

// Meta holds the fields every record has.
type Meta struct {
	ID string `json:"id"`
	// ModifiedDate is when Ferry stored the record.
	ModifiedDate Date `json:"modifiedDate,omitempty"`
	// SourceModifiedDate is when the source last changed it, where the
	// source says.
	SourceModifiedDate Date `json:"sourceModifiedDate,omitempty"`
}

// RecordID returns the record's id.
func (m *Meta) RecordID() string { return m.ID }

// Date is a date or date-time as Codat writes them: 2024-05-02T00:00:00,
// with or without a zone (2024-05-02T00:00:00Z) and fractional seconds, or
// a plain date, 2024-05-02. It keeps the text it was given.
type Date string

// dateLayouts are the forms a Date may take, tried in order.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"}

// errBadDate is the refusal of a Date in none of the dateLayouts.
var errBadDate = errors.New("not a date (write it as 2024-05-02T00:00:00)")

// Time reads the date; one without a zone is taken as UTC.
func (d Date) Time() (time.Time, error) {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, string(d)); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadDate
}

// Address is a postal address.
type Address struct {
	Type       string `json:"type,omitempty"`
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
}

// Company is the company the books belong to (data type company): one
// record.
type Company struct {
	Meta
	CompanyName            string            `json:"companyName"`
	CompanyLegalName       string            `json:"companyLegalName,omitempty"`
	RegistrationNumber     string            `json:"registrationNumber,omitempty"`
	TaxNumber              string            `json:"taxNumber,omitempty"`
	BaseCurrency           string            `json:"baseCurrency,omitempty"`
	FinancialYearStartDate Date              `json:"financialYearStartDate,omitempty"`
	CreatedDate            Date              `json:"createdDate,omitempty"`
	Addresses              []Address         `json:"addresses,omitempty"`
	SourceURLs             map[string]string `json:"sourceUrls,omitempty"`
}

// Account is a ledger account (data type chartOfAccounts).
type Account struct {
	Meta
	NominalCode            string        `json:"nominalCode,omitempty"`
	Name                   string        `json:"name"`
	Description            string        `json:"description,omitempty"`
	FullyQualifiedCategory string        `json:"fullyQualifiedCategory,omitempty"`
	FullyQualifiedName     string        `json:"fullyQualifiedName,omitempty"`
	Type                   AccountType   `json:"type,omitempty"`
	Status                 AccountStatus `json:"status,omitempty"`
	Currency               string        `json:"currency,omitempty"`
	CurrentBalance         *Decimal      `json:"currentBalance,omitempty"`
	IsBankAccount          bool          `json:"isBankAccount"`
}

// Contact holds the fields customers and suppliers share.
type Contact struct {
	ContactName        string    `json:"contactName,omitempty"`
	EmailAddress       string    `json:"emailAddress,omitempty"`
	Phone              string    `json:"phone,omitempty"`
	Addresses          []Address `json:"addresses,omitempty"`
	TaxNumber          string    `json:"taxNumber,omitempty"`
	RegistrationNumber string    `json:"registrationNumber,omitempty"`
	DefaultCurrency    string    `json:"defaultCurrency,omitempty"`
	Status             Status    `json:"status,omitempty"`
}

// Customer is someone the company sells to (data type customers).
type Customer struct {
	Meta
	CustomerName string `json:"customerName"`
	Contact
}

// Supplier is someone the company buys from (data type suppliers).
type Supplier struct {
	Meta
	SupplierName string `json:"supplierName"`
	Contact
}

// TaxRate is a sales tax rate (data type taxRates). Rates are percentages:
// 20 is 20 %.
type TaxRate struct {
	Meta
	Name             string   `json:"name"`
	Code             string   `json:"code,omitempty"`
	EffectiveTaxRate *Decimal `json:"effectiveTaxRate,omitempty"`
	TotalTaxRate     *Decimal `json:"totalTaxRate,omitempty"`
	Status           Status   `json:"status,omitempty"`
}

// CustomerRef points at a customer.
type CustomerRef struct {
	ID          string `json:"id"`
	CompanyName string `json:"companyName,omitempty"`
}

// SupplierRef points at a supplier.
type SupplierRef struct {
	ID           string `json:"id"`
	SupplierName string `json:"supplierName,omitempty"`
}

// AccountRef points at a ledger account.
type AccountRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// TaxRateRef points at a tax rate.
type TaxRateRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// LineItem is one line of an invoice or a bill. SubTotal is the line's
// amount before tax (after any discount), TotalAmount with it.
type LineItem struct {
	Description        string      `json:"description,omitempty"`
	Quantity           *Decimal    `json:"quantity,omitempty"`
	UnitAmount         *Decimal    `json:"unitAmount,omitempty"`
	DiscountAmount     *Decimal    `json:"discountAmount,omitempty"`
	DiscountPercentage *Decimal    `json:"discountPercentage,omitempty"`
	SubTotal           *Decimal    `json:"subTotal,omitempty"`
	TaxAmount          *Decimal    `json:"taxAmount,omitempty"`
	TotalAmount        *Decimal    `json:"totalAmount,omitempty"`
	AccountRef         *AccountRef `json:"accountRef,omitempty"`
	TaxRateRef         *TaxRateRef `json:"taxRateRef,omitempty"`
}

// Invoice is a sales invoice (data type invoices).
type Invoice struct {
	Meta
	InvoiceNumber  string        `json:"invoiceNumber,omitempty"`
	CustomerRef    *CustomerRef  `json:"customerRef,omitempty"`
	IssueDate      Date          `json:"issueDate,omitempty"`
	DueDate        Date          `json:"dueDate,omitempty"`
	PaidOnDate     Date          `json:"paidOnDate,omitempty"`
	Currency       string        `json:"currency,omitempty"`
	CurrencyRate   *Decimal      `json:"currencyRate,omitempty"`
	LineItems      []LineItem    `json:"lineItems,omitempty"`
	SubTotal       *Decimal      `json:"subTotal,omitempty"`
	TotalDiscount  *Decimal      `json:"totalDiscount,omitempty"`
	TotalTaxAmount *Decimal      `json:"totalTaxAmount,omitempty"`
	TotalAmount    *Decimal      `json:"totalAmount,omitempty"`
	AmountDue      *Decimal      `json:"amountDue,omitempty"`
	Status         InvoiceStatus `json:"status,omitempty"`
	Note           string        `json:"note,omitempty"`
}

// Bill is a purchase invoice (data type bills).
type Bill struct {
	Meta
	Reference    string       `json:"reference,omitempty"`
	SupplierRef  *SupplierRef `json:"supplierRef,omitempty"`
	IssueDate    Date         `json:"issueDate,omitempty"`
	DueDate      Date         `json:"dueDate,omitempty"`
	Currency     string       `json:"currency,omitempty"`
	CurrencyRate *Decimal     `json:"currencyRate,omitempty"`
	LineItems    []LineItem   `json:"lineItems,omitempty"`
	SubTotal     *Decimal     `json:"subTotal,omitempty"`
	TaxAmount    *Decimal     `json:"taxAmount,omitempty"`
	TotalAmount  *Decimal     `json:"totalAmount,omitempty"`
	AmountDue    *Decimal     `json:"amountDue,omitempty"`
	Status       BillStatus   `json:"status,omitempty"`
	Note         string       `json:"note,omitempty"`
}

// JournalLine is one line of a journal entry: NetAmount is positive for a
// debit, negative for a credit.
type JournalLine struct {
	AccountRef  *AccountRef `json:"accountRef,omitempty"`
	NetAmount   *Decimal    `json:"netAmount,omitempty"`
	Currency    string      `json:"currency,omitempty"`
	Description string      `json:"description,omitempty"`
}

// JournalEntry is a manual journal (data type journalEntries).
type JournalEntry struct {
	Meta
	Description  string        `json:"description,omitempty"`
	PostedOn     Date          `json:"postedOn,omitempty"`
	CreatedOn    Date          `json:"createdOn,omitempty"`
	UpdatedOn    Date          `json:"updatedOn,omitempty"`
	JournalLines []JournalLine `json:"journalLines,omitempty"`
}

// DataType methods: each record knows its data type.

func (*Company) DataType() dataset.DataType      { return dataset.Company }
func (*Account) DataType() dataset.DataType      { return dataset.ChartOfAccounts }
func (*Customer) DataType() dataset.DataType     { return dataset.Customers }
func (*Supplier) DataType() dataset.DataType     { return dataset.Suppliers }
func (*TaxRate) DataType() dataset.DataType      { return dataset.TaxRates }
func (*Invoice) DataType() dataset.DataType      { return dataset.Invoices }
func (*Bill) DataType() dataset.DataType         { return dataset.Bills }
func (*JournalEntry) DataType() dataset.DataType { return dataset.JournalEntries }
