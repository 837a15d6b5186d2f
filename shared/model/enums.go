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

// PaymentLinkType is what a payment line's link points at. Payments and
// bill payments share it: Codat's two enums differ only in Invoice (a
// payment's) and Bill, BillPayment (a bill payment's).
type PaymentLinkType string

// The payment link types.
const (
	PaymentLinkUnknown          PaymentLinkType = "Unknown"
	PaymentLinkUnlinked         PaymentLinkType = "Unlinked"
	PaymentLinkInvoice          PaymentLinkType = "Invoice"
	PaymentLinkBill             PaymentLinkType = "Bill"
	PaymentLinkCreditNote       PaymentLinkType = "CreditNote"
	PaymentLinkOther            PaymentLinkType = "Other"
	PaymentLinkRefund           PaymentLinkType = "Refund"
	PaymentLinkPayment          PaymentLinkType = "Payment"
	PaymentLinkBillPayment      PaymentLinkType = "BillPayment"
	PaymentLinkPaymentOnAccount PaymentLinkType = "PaymentOnAccount"
	PaymentLinkManualJournal    PaymentLinkType = "ManualJournal"
	PaymentLinkDiscount         PaymentLinkType = "Discount"
)

// PaymentLinkTypes lists the link types of a payment's lines.
var PaymentLinkTypes = []PaymentLinkType{PaymentLinkUnknown, PaymentLinkUnlinked, PaymentLinkInvoice,
	PaymentLinkCreditNote, PaymentLinkOther, PaymentLinkRefund, PaymentLinkPayment, PaymentLinkPaymentOnAccount,
	PaymentLinkManualJournal, PaymentLinkDiscount}

// BillPaymentLinkTypes lists the link types of a bill payment's lines.
var BillPaymentLinkTypes = []PaymentLinkType{PaymentLinkUnknown, PaymentLinkUnlinked, PaymentLinkBill,
	PaymentLinkOther, PaymentLinkCreditNote, PaymentLinkBillPayment, PaymentLinkPaymentOnAccount,
	PaymentLinkRefund, PaymentLinkManualJournal, PaymentLinkDiscount}

// CreditNoteStatus is where a credit note, given or received, is in its
// life.
type CreditNoteStatus string

// The credit note statuses.
const (
	CreditNoteStatusUnknown       CreditNoteStatus = "Unknown"
	CreditNoteStatusDraft         CreditNoteStatus = "Draft"
	CreditNoteStatusSubmitted     CreditNoteStatus = "Submitted"
	CreditNoteStatusPaid          CreditNoteStatus = "Paid"
	CreditNoteStatusVoid          CreditNoteStatus = "Void"
	CreditNoteStatusPartiallyPaid CreditNoteStatus = "PartiallyPaid"
)

// CreditNoteStatuses lists every CreditNoteStatus.
var CreditNoteStatuses = []CreditNoteStatus{CreditNoteStatusUnknown, CreditNoteStatusDraft,
	CreditNoteStatusSubmitted, CreditNoteStatusPaid, CreditNoteStatusVoid, CreditNoteStatusPartiallyPaid}

// Valid reports whether s is one of CreditNoteStatuses.
func (s CreditNoteStatus) Valid() bool { return slices.Contains(CreditNoteStatuses, s) }

// BankAccountType says whether a bank account holds money (Debit: a
// current or savings account, cash) or lends it (Credit: a credit card).
type BankAccountType string

// The bank account types.
const (
	BankAccountTypeUnknown BankAccountType = "Unknown"
	BankAccountTypeCredit  BankAccountType = "Credit"
	BankAccountTypeDebit   BankAccountType = "Debit"
)

// BankAccountTypes lists every BankAccountType.
var BankAccountTypes = []BankAccountType{BankAccountTypeUnknown, BankAccountTypeCredit, BankAccountTypeDebit}

// Valid reports whether t is one of BankAccountTypes.
func (t BankAccountType) Valid() bool { return slices.Contains(BankAccountTypes, t) }
