// Package model is Ferry's standard data model, a subset of Codat's
// accounting model with Codat's field names, and the rules a dataset's
// records must pass in the Validating state.
//
// # Records
//
// Decode reads one record of a data type (Company, Account, Customer,
// Supplier, TaxRate, Invoice, Bill, JournalEntry, CreditNote,
// BillCreditNote, Payment, BillPayment, BankAccount) from its JSON object. It
// ignores fields the model does not hold, since a connector may send more
// of Codat's fields; the coordinator keeps and serves the record as it was
// uploaded, so nothing is lost. Amounts are Decimals, exact and read from
// their text (a JSON number or a string holding one), never through a
// float64. Dates are kept as the text given and checked by the rules.
//
// # Rules
//
// A Validator checks one dataset's records as they stream past. Errors
// fail the dataset (ValidationError); warnings are kept and do not. A rule
// that compares amounts compares only amounts the record states: a missing
// amount is never taken as zero, and sums are exact (no tolerance).
//
//	rule id                    kind     checks
//	record.malformed           error    the record is a JSON object of its type's shape (strings where strings go, arrays where arrays go…)
//	record.decimal             error    every amount is a decimal number (JSON number or numeric string, at most 64 decimal places)
//	record.id                  error    the record has an id
//	record.uniqueId            error    no id appears twice in the dataset
//	record.date                error    every date given is a date: 2024-05-02, 2024-05-02T00:00:00, with or without zone and fractions
//	company.required           error    companyName
//	company.single             warning  the company dataset holds one record
//	account.required           error    name
//	account.type               error    type, when given, is Unknown, Asset, Liability, Equity, Income or Expense
//	account.status             error    status, when given, is Unknown, Active, Archived or Pending
//	taxRate.required           error    name
//	taxRate.status             error    status, when given, is Unknown, Active or Archived
//	customer.required          error    customerName
//	customer.status            error    status, when given, is Unknown, Active or Archived
//	supplier.required          error    supplierName
//	supplier.status            error    status, when given, is Unknown, Active or Archived
//	invoice.required           error    customerRef.id, issueDate, totalAmount
//	invoice.status             error    status, when given, is Unknown, Draft, Submitted, PartiallyPaid, Paid or Void
//	invoice.customerRef        ref      customerRef.id is a cached customer
//	invoice.accountRef         ref      each line's accountRef.id is a cached account (an accountRef without id: error)
//	invoice.taxRateRef         ref      each line's taxRateRef.id is a cached tax rate (a taxRateRef without id: error)
//	invoice.lineItemsSum       error    Σ lineItems[].subTotal = subTotal
//	invoice.lineItemsTaxSum    error    Σ lineItems[].taxAmount = totalTaxAmount
//	invoice.total              error    subTotal + totalTaxAmount = totalAmount
//	invoice.lineItemTotal      error    each line: subTotal + taxAmount = totalAmount
//	invoice.lineItemQuantity   warning  each line: quantity × unitAmount, less discountAmount (else discountPercentage), = subTotal (rounding)
//	invoice.amountDue          warning  amountDue ≤ totalAmount (≥ for a negative total)
//	bill.*                     as invoice.*, with supplierRef (a cached supplier) for customerRef and taxAmount for totalTaxAmount
//	journalEntry.required      error    postedOn; at least one line; each line's accountRef.id and netAmount
//	journalEntry.accountRef    ref      each line's accountRef.id is a cached account
//	journalEntry.balanced      error    Σ journalLines[].netAmount = 0, exactly
//	journalEntry.currencies    warning  the lines are in one currency; otherwise balance is not checked
//	creditNote.*               as invoice.*, with remainingCredit for amountDue (creditNote.remainingCredit) and the statuses Unknown, Draft, Submitted, Paid, Void or PartiallyPaid
//	billCreditNote.*           as creditNote.*, with supplierRef (a cached supplier) for customerRef
//	payment.required           error    date, totalAmount; each line's amount; customerRef.id when customerRef is given
//	payment.customerRef        ref      customerRef.id is a cached customer
//	payment.accountRef         ref      accountRef.id is a cached account
//	payment.linkType           error    each link's type is Unknown, Unlinked, Invoice, CreditNote, Other, Refund, Payment, PaymentOnAccount, ManualJournal or Discount
//	payment.linkRef            ref      each link's id is a cached invoice (Invoice), credit note (CreditNote), customer (PaymentOnAccount, Other) or journal entry (ManualJournal); Payment, Refund and Discount links are not looked up
//	payment.linesSum           error    Σ lines[].amount = totalAmount
//	payment.linksSum           error    each line: amount + Σ links[].amount = 0 (a link reduces what is owed by what the line pays), when no link has a currencyRate
//	billPayment.*              as payment.*, with supplierRef, Bill (a cached bill) for Invoice, billCreditNotes for creditNotes, suppliers for customers, BillPayment for Payment
//	bankAccount.required       error    accountName
//	bankAccount.type           error    accountType, when given, is Unknown, Credit or Debit
//	bankAccount.status         error    status, when given, is Unknown, Active, Archived or Pending
//	validation.truncated       either   more than MaxFindings errors (or warnings) were found: how many were not kept
//
// A sum rule is checked when the record states the total and every line
// states the amount summed; a record without lines checks only
// invoice.total. The id is the only field required of every type: the
// upload refuses a record without one before validation.
//
// A "ref" rule looks the referenced record up with the Lookup, in the cache
// of the referenced type (its last Complete dataset for the company). A
// record missing from that cache is an error; when the referenced type has
// never been synced (the Lookup says ErrNoCache) nothing can be checked,
// and the rule gives one warning for the dataset instead.
package model
