// Package aged computes the aged debtor and creditor reports, Codat's
// AccountingAgedDebtorReport and AccountingAgedCreditorReport, from synced
// records: what each customer owes the business, or the business owes each
// supplier, as of a date, in periods by how long ago each amount arose.
//
// An amount's age is counted from its document's issue date (as Codat
// counts it, not from the due date): an invoice or bill less what payments
// allocated to it before the report date; a credit note's credit not yet
// used, negative; and money paid on account (a payment line linked to the
// customer or supplier, or to a document the synced records do not hold),
// negative, from the day it was allocated. Only what is dated before the
// report date counts ("up to, but not including", as Codat's report). Drafts
// and void documents owe nothing. So a customer's amounts add up to what
// the receivable account says of that customer before the date, and the
// whole report to the account's balance.
//
// The package is pure: the caller hands it the records.
package aged

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
)

// Kind is one of the two reports: which data types it reads and what its
// details are called.
type Kind struct {
	// Name is the report's name in the API's path: agedDebtor, agedCreditor.
	Name string
	// Documents, Credits and Payments are the data types owed amounts come
	// from (invoices, creditNotes, payments); Contacts gives the names.
	Documents, Credits, Payments, Contacts dataset.DataType
	// DocumentLink is the payment link type that points at a document.
	DocumentLink model.PaymentLinkType
	// Details' names: Codat's data type names with a capital.
	DocumentDetail, CreditDetail, PaymentDetail string
}

// The two reports.
var (
	// Debtors is the aged debtor report: what customers owe.
	Debtors = Kind{Name: "agedDebtor", Documents: dataset.Invoices, Credits: dataset.CreditNotes,
		Payments: dataset.Payments, Contacts: dataset.Customers, DocumentLink: model.PaymentLinkInvoice,
		DocumentDetail: "Invoices", CreditDetail: "CreditNotes", PaymentDetail: "Payments"}
	// Creditors is the aged creditor report: what the business owes
	// suppliers.
	Creditors = Kind{Name: "agedCreditor", Documents: dataset.Bills, Credits: dataset.BillCreditNotes,
		Payments: dataset.BillPayments, Contacts: dataset.Suppliers, DocumentLink: model.PaymentLinkBill,
		DocumentDetail: "Bills", CreditDetail: "BillCreditNotes", PaymentDetail: "BillPayments"}
)

// Required lists the data types the report is computed from; Contacts only
// names the contacts and is not required.
func (k Kind) Required() []dataset.DataType {
	return []dataset.DataType{k.Documents, k.Credits, k.Payments}
}

// Bounds on the parameters.
const (
	// MaxPeriods is the most periods a report may have.
	MaxPeriods = 120
	// MaxPeriodLengthDays is the longest period, in days (ten years).
	MaxPeriodLengthDays = 3660
	// DefaultPeriods and DefaultPeriodLengthDays are Codat's defaults.
	DefaultPeriods          = 4
	DefaultPeriodLengthDays = 30
)

// Params are the report's parameters.
type Params struct {
	// ReportDate is the day the report is made up to (not including it),
	// as midnight UTC.
	ReportDate time.Time
	// Periods is how many periods there are; the last reaches back to the
	// first day there is. PeriodLengthDays is the length of the others.
	Periods, PeriodLengthDays int
}

// Check says what is wrong with p, naming the parameter; nil if nothing.
func (p Params) Check() error {
	switch {
	case p.Periods < 1 || p.Periods > MaxPeriods:
		return fmt.Errorf("numberOfPeriods must be 1 to %d, not %d", MaxPeriods, p.Periods)
	case p.PeriodLengthDays < 1 || p.PeriodLengthDays > MaxPeriodLengthDays:
		return fmt.Errorf("periodLengthDays must be 1 to %d, not %d", MaxPeriodLengthDays, p.PeriodLengthDays)
	case p.ReportDate.Year() < 1900 || p.ReportDate.Year() > 9999:
		return fmt.Errorf("reportDate must be in the years 1900 to 9999, not %s", p.ReportDate.Format(time.DateOnly))
	}
	return nil
}

// ParseParams reads the parameters from a query: reportDate (a date, or a
// date and time whose day is taken; today, UTC, when absent),
// numberOfPeriods and periodLengthDays (DefaultPeriods and
// DefaultPeriodLengthDays when absent). The error names the parameter.
func ParseParams(q url.Values, now time.Time) (Params, error) {
	y, m, d := now.UTC().Date()
	p := Params{ReportDate: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), Periods: DefaultPeriods, PeriodLengthDays: DefaultPeriodLengthDays}
	if v := q.Get("reportDate"); v != "" {
		t, err := model.Date(v).Time()
		if err != nil {
			return p, fmt.Errorf("reportDate %q is not a date (write it as 2024-05-02)", clip(v))
		}
		p.ReportDate = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"numberOfPeriods", &p.Periods}, {"periodLengthDays", &p.PeriodLengthDays}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return p, fmt.Errorf("%s %q is not a whole number", f.name, clip(v))
			}
			*f.dst = n
		}
	}
	return p, p.Check()
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Records calls fn with each synced record of dt as JSON; none when dt was
// never synced.
type Records func(dt dataset.DataType, fn func(record []byte) error) error

// Report is either report in Codat's shape: Data holds Debtors or Creditors.
type Report struct {
	Generated  string `json:"generated"`
	ReportDate string `json:"reportDate"`
	Data       any    `json:"data"`
}

// Debtor is one customer's row of the aged debtor report.
type Debtor struct {
	CustomerID              string                `json:"customerId"`
	CustomerName            string                `json:"customerName"`
	AgedCurrencyOutstanding []CurrencyOutstanding `json:"agedCurrencyOutstanding"`
}

// Creditor is one supplier's row of the aged creditor report.
type Creditor struct {
	SupplierID              string                `json:"supplierId"`
	SupplierName            string                `json:"supplierName"`
	AgedCurrencyOutstanding []CurrencyOutstanding `json:"agedCurrencyOutstanding"`
}

// CurrencyOutstanding is what a contact owes in one currency, by period.
type CurrencyOutstanding struct {
	Currency               string              `json:"currency"`
	AgedOutstandingAmounts []OutstandingAmount `json:"agedOutstandingAmounts"`
}

// OutstandingAmount is what is owed from the documents of one period:
// issued from FromDate up to, not including, ToDate. Details split Amount
// by the data type it comes from; a data type with nothing owed in the
// period is left out.
type OutstandingAmount struct {
	FromDate string         `json:"fromDate"`
	ToDate   string         `json:"toDate"`
	Amount   model.Decimal  `json:"amount"`
	Details  []AmountDetail `json:"details"`
}

// AmountDetail is the part of an amount one data type owes.
type AmountDetail struct {
	Name   string        `json:"name"`
	Amount model.Decimal `json:"amount"`
}

// dateLayout is how the report writes its dates: the API's DateTime.
const dateLayout = "2006-01-02T15:04:05.000Z"

// farPast is the start of the last period: the first day there is.
var farPast = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// ref is the customer or supplier a record names.
type ref struct {
	CustomerRef *model.CustomerRef `json:"customerRef"`
	SupplierRef *model.SupplierRef `json:"supplierRef"`
}

// party returns the id and the name the record gives.
func (r ref) party() (string, string) {
	switch {
	case r.CustomerRef != nil:
		return r.CustomerRef.ID, r.CustomerRef.CompanyName
	case r.SupplierRef != nil:
		return r.SupplierRef.ID, r.SupplierRef.SupplierName
	}
	return "", ""
}

// document is what the report reads of an invoice, bill or credit note.
type document struct {
	ID string `json:"id"`
	ref
	IssueDate   model.Date     `json:"issueDate"`
	Currency    string         `json:"currency"`
	TotalAmount *model.Decimal `json:"totalAmount"`
	Status      string         `json:"status"`
}

// payment is what the report reads of a payment or bill payment.
type payment struct {
	ID string `json:"id"`
	ref
	Date     model.Date          `json:"date"`
	Currency string              `json:"currency"`
	Lines    []model.PaymentLine `json:"lines"`
}

// contact is what the report reads of a customer or supplier.
type contact struct {
	ID           string `json:"id"`
	CustomerName string `json:"customerName"`
	SupplierName string `json:"supplierName"`
}

// The details, in the order a period lists them.
const (
	fromDocuments = iota
	fromCredits
	fromPayments
)

// item is one amount owed: a document's balance, or money on account.
type item struct {
	party, name, currency string
	day                   time.Time // the issue or allocation date
	detail                int       // fromDocuments, fromCredits or fromPayments
	amount                model.Decimal
}

// Build computes kind's report with p from the records, generated at now.
// A record that is not what its data type holds is an error (the records
// passed validation, so it is a fault).
func Build(kind Kind, p Params, records Records, now time.Time) (Report, error) {
	names := map[string]string{}
	err := records(kind.Contacts, func(raw []byte) error {
		var c contact
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("%s record: %w", kind.Contacts, err)
		}
		names[c.ID] = cmp.Or(c.CustomerName, c.SupplierName)
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	// docs are the documents and credit notes issued before the date, by
	// detail and id: payments' links reduce their balances.
	docs := [2]map[string]*item{{}, {}}
	var items []*item
	for detail, dt := range []dataset.DataType{kind.Documents, kind.Credits} {
		err := records(dt, func(raw []byte) error {
			id, it, err := readDocument(raw, p.ReportDate, detail)
			if err != nil {
				return fmt.Errorf("%s record: %w", dt, err)
			}
			if it != nil {
				docs[detail][id] = it
				items = append(items, it)
			}
			return nil
		})
		if err != nil {
			return Report{}, err
		}
	}
	err = records(kind.Payments, func(raw []byte) error {
		more, err := allocate(kind, raw, p.ReportDate, docs)
		if err != nil {
			return fmt.Errorf("%s record: %w", kind.Payments, err)
		}
		items = append(items, more...)
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	return Report{
		Generated:  now.UTC().Format(dateLayout),
		ReportDate: p.ReportDate.Format(dateLayout),
		Data:       rows(kind, p, items, names),
	}, nil
}

// readDocument reads an invoice, bill or credit note: its id, and what it
// owes before any payment, nil when it owes nothing before the date (a
// draft, void, or issued on or after it). A credit note owes its total,
// negated.
func readDocument(raw []byte, date time.Time, detail int) (string, *item, error) {
	var d document
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", nil, err
	}
	if d.Status == "Draft" || d.Status == "Void" || d.TotalAmount == nil || d.IssueDate == "" {
		return d.ID, nil, nil
	}
	day, err := dayOf(d.IssueDate)
	if err != nil || !day.Before(date) {
		return d.ID, nil, err
	}
	party, name := d.party()
	amount := *d.TotalAmount
	if detail == fromCredits {
		amount = model.Decimal{}.Sub(amount)
	}
	return d.ID, &item{party: party, name: name, currency: d.Currency, day: day, detail: detail, amount: amount}, nil
}

// allocate applies a payment's lines allocated before the date: a link to
// a document (or credit note) held in docs changes its balance by the
// link's amount; a link on account, or to a document docs does not hold,
// is money on account, returned as items of its own. Links to other
// payments, refunds, discounts and journals, and links in another currency
// (with a currencyRate), are not part of any contact's balance here.
func allocate(kind Kind, raw []byte, date time.Time, docs [2]map[string]*item) ([]*item, error) {
	var pay payment
	if err := json.Unmarshal(raw, &pay); err != nil {
		return nil, err
	}
	party, name := pay.party()
	var out []*item
	for _, line := range pay.Lines {
		day, err := dayOf(cmp.Or(line.AllocatedOnDate, pay.Date))
		if err != nil {
			return nil, err
		}
		if !day.Before(date) {
			continue
		}
		for _, l := range line.Links {
			if l.Amount == nil || l.CurrencyRate != nil {
				continue
			}
			var doc *item
			switch l.Type {
			case kind.DocumentLink:
				doc = docs[fromDocuments][l.ID]
			case model.PaymentLinkCreditNote:
				doc = docs[fromCredits][l.ID]
			case model.PaymentLinkPaymentOnAccount, model.PaymentLinkOther, model.PaymentLinkUnknown, model.PaymentLinkUnlinked:
			default:
				continue
			}
			if doc != nil {
				doc.amount = doc.amount.Add(*l.Amount)
				continue
			}
			out = append(out, &item{party: party, name: name, currency: pay.Currency, day: day,
				detail: fromPayments, amount: *l.Amount})
		}
	}
	return out, nil
}

// dayOf is a date's calendar day, as midnight UTC.
func dayOf(d model.Date) (time.Time, error) {
	t, err := d.Time()
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", d, err)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}

// period is the index of the period day falls in: 0 for the newest.
func period(p Params, day time.Time) int {
	age := int((p.ReportDate.Unix() - day.Unix()) / (24 * 60 * 60)) // ≥ 1: only days before the date count
	return min((age-1)/p.PeriodLengthDays, p.Periods-1)
}

// bounds are the periods' dates, newest first: period i runs from
// bounds[i+1] to bounds[i].
func bounds(p Params) []string {
	b := make([]string, p.Periods+1)
	for i := range p.Periods {
		b[i] = p.ReportDate.AddDate(0, 0, -i*p.PeriodLengthDays).Format(dateLayout)
	}
	b[p.Periods] = farPast.Format(dateLayout)
	return b
}

// key is a contact in one currency.
type key struct{ party, currency string }

// rows adds up the items by contact, currency, period and detail: one row
// per contact with something owed, or something owed to it, in any item,
// ordered by name then id; its currencies in alphabetical order; each with
// every period.
func rows(kind Kind, p Params, items []*item, names map[string]string) any {
	detailNames := []string{kind.DocumentDetail, kind.CreditDetail, kind.PaymentDetail}
	sums := map[key][][3]model.Decimal{}
	refNames := map[string]string{}
	for _, it := range items {
		if it.amount.Sign() == 0 {
			continue
		}
		k := key{it.party, it.currency}
		if sums[k] == nil {
			sums[k] = make([][3]model.Decimal, p.Periods)
		}
		per := &sums[k][period(p, it.day)]
		per[it.detail] = per[it.detail].Add(it.amount)
		refNames[it.party] = cmp.Or(refNames[it.party], it.name)
	}
	dates := bounds(p)
	byParty := map[string][]CurrencyOutstanding{}
	for _, k := range slices.SortedFunc(maps.Keys(sums), func(a, b key) int { return cmp.Compare(a.currency, b.currency) }) {
		amounts := make([]OutstandingAmount, p.Periods)
		for i, per := range sums[k] {
			a := OutstandingAmount{FromDate: dates[i+1], ToDate: dates[i], Details: []AmountDetail{}}
			for d, v := range per {
				if v.Sign() != 0 {
					a.Amount = a.Amount.Add(v)
					a.Details = append(a.Details, AmountDetail{Name: detailNames[d], Amount: v})
				}
			}
			amounts[i] = a
		}
		byParty[k.party] = append(byParty[k.party], CurrencyOutstanding{Currency: k.currency, AgedOutstandingAmounts: amounts})
	}
	name := func(id string) string { return cmp.Or(names[id], refNames[id]) }
	parties := slices.SortedFunc(maps.Keys(byParty), func(a, b string) int {
		return cmp.Or(cmp.Compare(name(a), name(b)), cmp.Compare(a, b))
	})
	if kind.Documents == dataset.Bills {
		out := make([]Creditor, len(parties))
		for i, id := range parties {
			out[i] = Creditor{SupplierID: id, SupplierName: name(id), AgedCurrencyOutstanding: byParty[id]}
		}
		return out
	}
	out := make([]Debtor, len(parties))
	for i, id := range parties {
		out[i] = Debtor{CustomerID: id, CustomerName: name(id), AgedCurrencyOutstanding: byParty[id]}
	}
	return out
}
