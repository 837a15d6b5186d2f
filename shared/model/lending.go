package model

import "github.com/ferry-sync/ferry/shared/dataset"

// The records a lender reads beside invoices and bills: payments, credit
// notes and bank accounts, in Codat's shapes (AccountingPayment,
// AccountingBillPayment, AccountingCreditNote, AccountingBillCreditNote,
// AccountingBankAccount).

// PaymentLink is what part of a payment line is applied to: an invoice, a
// bill, a credit note, or the customer's or supplier's account. Amount is
// by how much the linked record's balance changes: negative reduces what
// is owed (an invoice paid), positive increases it (a credit note used).
type PaymentLink struct {
	Type         PaymentLinkType `json:"type"`
	ID           string          `json:"id,omitempty"`
	Amount       *Decimal        `json:"amount,omitempty"`
	CurrencyRate *Decimal        `json:"currencyRate,omitempty"`
}

// PaymentLine is one allocation of a payment, in the payment's currency.
type PaymentLine struct {
	Amount          *Decimal      `json:"amount,omitempty"`
	Links           []PaymentLink `json:"links,omitempty"`
	AllocatedOnDate Date          `json:"allocatedOnDate,omitempty"`
}

// PaymentMethodRef points at a payment method.
type PaymentMethodRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Payment is money a customer paid, or an allocation of credit between
// its documents (data type payments).
type Payment struct {
	Meta
	CustomerRef      *CustomerRef      `json:"customerRef,omitempty"`
	AccountRef       *AccountRef       `json:"accountRef,omitempty"`
	PaymentMethodRef *PaymentMethodRef `json:"paymentMethodRef,omitempty"`
	TotalAmount      *Decimal          `json:"totalAmount,omitempty"`
	Currency         string            `json:"currency,omitempty"`
	CurrencyRate     *Decimal          `json:"currencyRate,omitempty"`
	Date             Date              `json:"date,omitempty"`
	Note             string            `json:"note,omitempty"`
	Lines            []PaymentLine     `json:"lines,omitempty"`
	Reference        string            `json:"reference,omitempty"`
}

// BillPayment is money paid to a supplier, or an allocation of credit
// between its documents (data type billPayments).
type BillPayment struct {
	Meta
	SupplierRef      *SupplierRef      `json:"supplierRef,omitempty"`
	AccountRef       *AccountRef       `json:"accountRef,omitempty"`
	PaymentMethodRef *PaymentMethodRef `json:"paymentMethodRef,omitempty"`
	TotalAmount      *Decimal          `json:"totalAmount,omitempty"`
	Currency         string            `json:"currency,omitempty"`
	CurrencyRate     *Decimal          `json:"currencyRate,omitempty"`
	Date             Date              `json:"date,omitempty"`
	Note             string            `json:"note,omitempty"`
	Lines            []PaymentLine     `json:"lines,omitempty"`
	Reference        string            `json:"reference,omitempty"`
}

// CreditNote is credit given to a customer (data type creditNotes). Its
// amounts are positive; RemainingCredit is what is not yet used.
type CreditNote struct {
	Meta
	CreditNoteNumber   string           `json:"creditNoteNumber,omitempty"`
	CustomerRef        *CustomerRef     `json:"customerRef,omitempty"`
	IssueDate          Date             `json:"issueDate,omitempty"`
	AllocatedOnDate    Date             `json:"allocatedOnDate,omitempty"`
	Currency           string           `json:"currency,omitempty"`
	CurrencyRate       *Decimal         `json:"currencyRate,omitempty"`
	LineItems          []LineItem       `json:"lineItems,omitempty"`
	SubTotal           *Decimal         `json:"subTotal,omitempty"`
	TotalDiscount      *Decimal         `json:"totalDiscount,omitempty"`
	DiscountPercentage *Decimal         `json:"discountPercentage,omitempty"`
	TotalTaxAmount     *Decimal         `json:"totalTaxAmount,omitempty"`
	TotalAmount        *Decimal         `json:"totalAmount,omitempty"`
	RemainingCredit    *Decimal         `json:"remainingCredit,omitempty"`
	Status             CreditNoteStatus `json:"status,omitempty"`
	Note               string           `json:"note,omitempty"`
}

// BillCreditNote is credit a supplier gave (data type billCreditNotes).
// Its amounts are positive; RemainingCredit is what is not yet used.
type BillCreditNote struct {
	Meta
	BillCreditNoteNumber string           `json:"billCreditNoteNumber,omitempty"`
	SupplierRef          *SupplierRef     `json:"supplierRef,omitempty"`
	IssueDate            Date             `json:"issueDate,omitempty"`
	AllocatedOnDate      Date             `json:"allocatedOnDate,omitempty"`
	Currency             string           `json:"currency,omitempty"`
	CurrencyRate         *Decimal         `json:"currencyRate,omitempty"`
	LineItems            []LineItem       `json:"lineItems,omitempty"`
	SubTotal             *Decimal         `json:"subTotal,omitempty"`
	TotalDiscount        *Decimal         `json:"totalDiscount,omitempty"`
	DiscountPercentage   *Decimal         `json:"discountPercentage,omitempty"`
	TotalTaxAmount       *Decimal         `json:"totalTaxAmount,omitempty"`
	TotalAmount          *Decimal         `json:"totalAmount,omitempty"`
	RemainingCredit      *Decimal         `json:"remainingCredit,omitempty"`
	Status               CreditNoteStatus `json:"status,omitempty"`
	Note                 string           `json:"note,omitempty"`
}

// BankAccount is a bank, cash or credit-card account (data type
// bankAccounts). Balance is in the account's currency, debit positive: a
// credit card owed on is negative.
type BankAccount struct {
	Meta
	AccountName      string          `json:"accountName,omitempty"`
	AccountType      BankAccountType `json:"accountType,omitempty"`
	NominalCode      string          `json:"nominalCode,omitempty"`
	SortCode         string          `json:"sortCode,omitempty"`
	AccountNumber    string          `json:"accountNumber,omitempty"`
	IBan             string          `json:"iBan,omitempty"`
	Currency         string          `json:"currency,omitempty"`
	Balance          *Decimal        `json:"balance,omitempty"`
	Institution      string          `json:"institution,omitempty"`
	AvailableBalance *Decimal        `json:"availableBalance,omitempty"`
	OverdraftLimit   *Decimal        `json:"overdraftLimit,omitempty"`
	Status           AccountStatus   `json:"status,omitempty"`
}

func (*Payment) DataType() dataset.DataType        { return dataset.Payments }
func (*BillPayment) DataType() dataset.DataType    { return dataset.BillPayments }
func (*CreditNote) DataType() dataset.DataType     { return dataset.CreditNotes }
func (*BillCreditNote) DataType() dataset.DataType { return dataset.BillCreditNotes }
func (*BankAccount) DataType() dataset.DataType    { return dataset.BankAccounts }
