package model

import "slices"

// The enumerations of the standard model, spelled as Codat spells them.
// Each has Unknown, Codat's value for what the source does not say.

// AccountType is the class of a ledger account.
type AccountType string

// The account types.
const (
	AccountTypeUnknown   AccountType = "Unknown"
	AccountTypeAsset     AccountType = "Asset"
	AccountTypeLiability AccountType = "Liability"
	AccountTypeEquity    AccountType = "Equity"
	AccountTypeIncome    AccountType = "Income"
	AccountTypeExpense   AccountType = "Expense"
)

// AccountTypes lists every AccountType.
var AccountTypes = []AccountType{AccountTypeUnknown, AccountTypeAsset, AccountTypeLiability,
	AccountTypeEquity, AccountTypeIncome, AccountTypeExpense}

// Valid reports whether t is one of AccountTypes.
func (t AccountType) Valid() bool { return slices.Contains(AccountTypes, t) }

// AccountStatus says whether an account is in use.
type AccountStatus string

// The account statuses.
const (
	AccountStatusUnknown  AccountStatus = "Unknown"
	AccountStatusActive   AccountStatus = "Active"
	AccountStatusArchived AccountStatus = "Archived"
	AccountStatusPending  AccountStatus = "Pending"
)

// AccountStatuses lists every AccountStatus.
var AccountStatuses = []AccountStatus{AccountStatusUnknown, AccountStatusActive, AccountStatusArchived, AccountStatusPending}

// Valid reports whether s is one of AccountStatuses.
func (s AccountStatus) Valid() bool { return slices.Contains(AccountStatuses, s) }

// Status is the status of a customer, a supplier or a tax rate.
type Status string

// The statuses of customers, suppliers and tax rates.
const (
	StatusUnknown  Status = "Unknown"
	StatusActive   Status = "Active"
	StatusArchived Status = "Archived"
)

// Statuses lists every Status.
var Statuses = []Status{StatusUnknown, StatusActive, StatusArchived}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// InvoiceStatus is where an invoice is in its life.
type InvoiceStatus string

// The invoice statuses.
const (
	InvoiceStatusUnknown       InvoiceStatus = "Unknown"
	InvoiceStatusDraft         InvoiceStatus = "Draft"
	InvoiceStatusSubmitted     InvoiceStatus = "Submitted"
	InvoiceStatusPartiallyPaid InvoiceStatus = "PartiallyPaid"
	InvoiceStatusPaid          InvoiceStatus = "Paid"
	InvoiceStatusVoid          InvoiceStatus = "Void"
)

// InvoiceStatuses lists every InvoiceStatus.
var InvoiceStatuses = []InvoiceStatus{InvoiceStatusUnknown, InvoiceStatusDraft, InvoiceStatusSubmitted,
	InvoiceStatusPartiallyPaid, InvoiceStatusPaid, InvoiceStatusVoid}

// Valid reports whether s is one of InvoiceStatuses.
func (s InvoiceStatus) Valid() bool { return slices.Contains(InvoiceStatuses, s) }

// BillStatus is where a bill is in its life.
type BillStatus string

// The bill statuses.
const (
	BillStatusUnknown       BillStatus = "Unknown"
	BillStatusDraft         BillStatus = "Draft"
	BillStatusOpen          BillStatus = "Open"
	BillStatusPartiallyPaid BillStatus = "PartiallyPaid"
	BillStatusPaid          BillStatus = "Paid"
	BillStatusVoid          BillStatus = "Void"
)

// BillStatuses lists every BillStatus.
var BillStatuses = []BillStatus{BillStatusUnknown, BillStatusDraft, BillStatusOpen,
	BillStatusPartiallyPaid, BillStatusPaid, BillStatusVoid}

// Valid reports whether s is one of BillStatuses.
func (s BillStatus) Valid() bool { return slices.Contains(BillStatuses, s) }
