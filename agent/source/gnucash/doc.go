// Package gnucash is the connector for GnuCash books: XML, compressed with
// gzip or not, and SQLite, told apart by their first bytes (1f 8b, or
// "SQLite format 3"), never by their name. Open never fails for a missing
// book; each Fetch checks the file is there and is a GnuCash book, and
// says what is wrong in a FetchError a person can act on.
//
// # Open books
//
// GnuCash may keep the book open while Ferry reads it: its lock (a
// <book>.LCK file beside an XML book, a row in an SQLite book's gnclock
// table) guards against a second writer, and Ferry only reads. A locked
// book is read, and the batch carries a warning (source.Warner, rule
// "source.bookOpen") that the agent sends to the coordinator, where it is
// among the dataset's validation warnings and in its statusDescription:
// for SQLite, the host and process in the gnclock row; for XML, whose lock
// file holds no host, the lock file's time, and that changes not yet saved
// in GnuCash are not included (an SQLite book has none: GnuCash writes
// every change at once). A lock left by a crash reads the same, and is no
// error either.
//
// Ferry never stands in GnuCash's way. GnuCash saves an XML book by
// writing a new file and renaming it over the old one: the fetch reads
// the file it opened to its end, one whole version (on Windows it opens
// the book sharing read, write and delete, which os.Open does not, so the
// rename is allowed). An SQLite book is first copied, and the copy is
// read, from a temporary file removed when the batch closes: GnuCash
// waits for Ferry's shared lock only while a small piece is copied, never
// for a whole fetch. The copy is SQLite's online backup, 1024 pages (1
// MiB) a step, the lock released between steps; a write by GnuCash
// between two steps makes the backup start again, and after two restarts
// the book is copied in one go: its bytes without a lock, then read again
// under one read transaction and patched where they differ (GnuCash's
// books keep a rollback journal, so the lock keeps writers out of the
// file while it is read), or one backup step for a WAL book (whose
// readers never block a writer).
//
// # Reading
//
// Every Fetch reads the book once, keeping only what its data type needs;
// payments twice, their documents first (an XML book lists them after the
// transactions) and then the transactions, each payment mapped as it
// passes, the first read dropping the transactions unread. The second
// read of an XML book reads the file Fetch opened again, the same version.
// FetchTypes opens the book once for several types (an SQLite book is
// copied once) and reads it once for all of them, keeping what any of
// them needs, journal entries streamed, the others mapped from the book
// read; payments then read the transactions a second time. A fault in a
// part of the book that only some of the types read (a document's line)
// would end them all: then each type still going is read again on its
// own, as a Fetch of it would be, and only those that read the fault
// fail.
// An XML book is read with encoding/xml's token decoder as a stream of
// objects (an account, a transaction): transactions pass one at a time,
// and a data type that needs none has them cut out of the byte stream
// before the decoder, unread. An SQLite book's copy is read in one
// read-only transaction a read, rows streamed. Memory does not grow with the number of
// transactions, nor of payments: a generated book of 1,000,000 splits streams every type in
// about 5 MiB of heap. Accounts, commodities, customers, vendors, jobs, tax
// tables, invoices and their entries are held while a Fetch reads: GnuCash
// keeps those in memory too. The XML reader refuses DOCTYPE and other
// declarations, expands no entities but XML's five, and bounds nesting
// (64), the size of one token (1 MiB) and of one object (16 MiB of text,
// 400,000 elements), so a hostile file ends in an error.
//
// # Mapping
//
// Ids are GnuCash's GUIDs (the company's is "company"). Amounts are GnuCash's
// rationals, summed exactly with big.Rat and written as json.Number decimals
// with the commodity's places (two for cents), more only when a value
// needs them to be exact. GnuCash keeps no modification times:
// sourceModifiedDate is never set. Calendar dates (postedOn, issueDate,
// dueDate) are RFC 3339 at midnight UTC; times (createdOn, a
// transaction's date entered) are RFC 3339 in UTC. The date of a calendar
// date stored as an instant is taken in the book's own time zone where
// the book records one, else in the agent's: GnuCash records a zone only
// as the UTC offset older XML writers put on each date ("+0100"), so such
// a date is the date at that offset; a date stored in UTC (SQLite, newer
// XML) is the date in the agent's zone (Options.Location, time.Local by
// default). That reads GnuCash's neutral 10:59 UTC as its date from
// UTC-10:59 to UTC+13, and an old book's local midnight (23:00 UTC the day
// before for Berlin, 11:00 UTC for Auckland) as the date entered, when the
// agent runs in the zone the book is kept in. A transaction's date-posted
// slot (a date, no zone), when there, wins.
// SQLite dates are read in both "2006-01-02 15:04:05" and
// "20060102150405" forms.
//
//   - company: companyName is the book option Business/Company Name, else
//     the file name without its extensions; baseCurrency the root account's
//     currency, else the one most accounts use, else the first currency the
//     book lists; taxNumber the Tax/Tax Number option (else Company ID);
//     addresses, phoneNumbers and sourceUrls.website from the Business
//     options when set. The book's path is not sent. No createdDate: GnuCash
//     does not record one.
//   - chartOfAccounts: every account but the root (and the template
//     accounts of scheduled transactions). nominalCode is the account code,
//     fullyQualifiedName the names from the top joined by ":". Types:
//     ASSET, BANK, CASH, STOCK, MUTUAL, RECEIVABLE → Asset; LIABILITY,
//     CREDIT, PAYABLE → Liability; EQUITY and TRADING → Equity (trading
//     accounts hold the currency and price differences of multi-currency
//     transactions; GnuCash reports them with equity); INCOME → Income;
//     EXPENSE → Expense; GnuCash 1's CHECKING, SAVINGS, MONEYMRKT → Asset
//     and CREDITLINE → Liability; others Unknown. status is Archived for a
//     hidden account, else Active; isPlaceholder (not Codat's) flags
//     placeholders. isBankAccount for BANK and CREDIT (credit cards are bank
//     accounts to Codat), not CASH. currency is the account's commodity
//     (a security's symbol for STOCK and MUTUAL). currentBalance is the sum
//     of the account's split quantities in that commodity with the sign of
//     the journal, debit positive (liabilities, equity and income are
//     negative), as in the journal lines and the CSV sample; GnuCash's
//     register shows credit accounts reversed by default.
//   - Unbalanced transactions, which old books have (an opening balance of
//     one split), are balanced as GnuCash does on opening the book: the
//     rest goes to the top-level account Imbalance-<currency>, the book's
//     own when it has one, else one made up with that name as its id.
//   - customers, suppliers (vendors): customerName or supplierName,
//     contactName (the address's name), emailAddress, phone, addresses
//     (Billing from the address, Delivery from a customer's shipping
//     address: GnuCash's four free lines become line1 and line2 joined by
//     ", ", as it does not say which is the city or postal code),
//     defaultCurrency, status Active or Archived. GnuCash has no tax number
//     for them.
//   - invoices and bills: documents owned by a customer, or by a job whose
//     owner is a customer, are invoices; by a vendor or a vendor's job,
//     bills; employees' expense vouchers are neither. invoiceNumber
//     (invoices) and reference (bills) are GnuCash's document id. Lines
//     are the entries, ordered by date: quantity and unitAmount as entered,
//     subTotal (after discount, before tax), taxAmount, totalAmount,
//     discountAmount, accountRef and taxRateRef; computed as GnuCash does
//     (gncEntryComputeValue): tax-included prices backed out, discounts
//     PRETAX, SAMETIME or POSTTAX, each percentage tax and each value tax
//     rounded to the currency's unit half away from zero per line. The
//     document's subTotal, totalTaxAmount (invoices) or taxAmount (bills),
//     totalDiscount and totalAmount add its lines up. Documents with the
//     credit-note flag are not among them: they are creditNotes and
//     billCreditNotes. Unposted documents are Draft,
//     issued on their date opened, with no dueDate, and amountDue their
//     total (nothing can be paid before posting). Posted ones are issued on
//     their date posted, due on the due date GnuCash stored with the
//     posting (else the posting date, as GnuCash falls back), and amountDue
//     is the balance left in their lot in the receivable or payable
//     account; status Paid at zero, Submitted (invoices) or Open (bills, as
//     Codat's bill statuses have it) while nothing is paid, else
//     PartiallyPaid.
//   - creditNotes and billCreditNotes: the customers' and vendors'
//     documents with GnuCash's credit-note flag, mapped as invoices and
//     bills are, with positive amounts (GnuCash keeps a credit note's
//     quantities negated): creditNoteNumber or billCreditNoteNumber is the
//     document id, totalTaxAmount the lines' tax, totalDiscount their
//     discounts, discountPercentage 0 (GnuCash discounts lines, not
//     documents), remainingCredit the credit not yet used (the negated
//     balance of the note's lot; its total before posting), no dueDate,
//     status Draft, Submitted, PartiallyPaid or Paid as for invoices.
//   - payments and billPayments: one per payment (P) or lot-link (L)
//     transaction with a split in a receivable (payments) or payable
//     (billPayments) account whose lot belongs to one of that side's
//     customers or vendors. Each such split is a line: amount what it
//     pays (positive for money received or paid), allocatedOnDate the
//     transaction's date, one link to the document of the split's lot
//     (Invoice, Bill, or CreditNote for a credit note's lot) or, for a lot
//     of its own (money paid on account), PaymentOnAccount to the customer
//     or vendor its gncOwner slot names; the link's amount is the line's
//     negated (Codat's change in what is owed). totalAmount adds the lines
//     up: the money paid, or 0 for a lot link (a credit note set against
//     an invoice). customerRef or supplierRef is the party; accountRef the
//     other account of a payment (bank, cash or card; none for a lot
//     link); date the transaction's date; currency its currency; note its
//     description. Lines are ordered by what they link to, then amount.
//     Codat's paymentMethodRef, reference and currencyRate are not set
//     (GnuCash keeps none; a payment in another currency than its
//     documents is in the transaction's currency).
//   - bankAccounts: the BANK, CASH and CREDIT accounts (and GnuCash 1's
//     CHECKING, SAVINGS, MONEYMRKT) that are no placeholders, which only
//     group others. accountName, nominalCode (the code), currency, status
//     as in chartOfAccounts; accountType Credit for a card, else Debit;
//     balance the same figure as the account's currentBalance, debit
//     positive (a card's debt is negative). GnuCash keeps no sort code,
//     account number, IBAN, institution, available balance or overdraft
//     limit for Ferry to read. An Imbalance account GnuCash made is a BANK
//     account and is among them.
//   - journalEntries: one per transaction but scheduled transactions'
//     templates: description, postedOn, createdOn (date entered), and one
//     line per split: accountRef, netAmount (the split's value in the
//     transaction's currency, debit positive), currency and description
//     (the memo). Lines of an entry sum to zero.
//   - taxRates: one per tax table; name and code are its name,
//     effectiveTaxRate and totalTaxRate the sum of its percentages
//     (GnuCash does not compound them), components one per percentage.
//     A fixed-value entry is no rate and is left out of them (it is used
//     in the lines' taxes). status is Archived for the hidden copies
//     GnuCash keeps of tables changed while in use, else Active.
//
// Every data type is provided by every book: a book without customers has
// an empty, valid customers sync rather than NotSupported.
package gnucash
