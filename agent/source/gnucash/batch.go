package gnucash

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// batch reads the book once for one data type and maps what it needs.
type batch struct {
	l    loader
	dt   dataset.DataType
	name string // the book's file name, for messages
	// warnings are what Fetch noticed (the book is open in GnuCash).
	warnings []source.Warning
	// loc is the zone dates stored as instants are read in when the book
	// records none.
	loc *time.Location
}

var _ source.Warner = (*batch)(nil)

// Warnings are what Fetch noticed about the book: that GnuCash had it open.
func (b *batch) Warnings() []source.Warning { return b.warnings }

// needs is what each data type reads of the book.
var needs = map[dataset.DataType]part{
	dataset.Company:         partMeta,
	dataset.ChartOfAccounts: partMeta | partBalances,
	dataset.TaxRates:        partMeta | partTaxTables,
	dataset.Customers:       partCustomers,
	dataset.Suppliers:       partVendors,
	dataset.Invoices:        partMeta | partTaxTables | partCustomers | partVendors | partInvoices | partLots,
	dataset.Bills:           partMeta | partTaxTables | partCustomers | partVendors | partInvoices | partLots,
	dataset.JournalEntries:  partMeta,
	dataset.CreditNotes:     partMeta | partTaxTables | partCustomers | partVendors | partInvoices | partLots,
	dataset.BillCreditNotes: partMeta | partTaxTables | partCustomers | partVendors | partInvoices | partLots,
	dataset.Payments:        partMeta | partCustomers | partVendors | partInvoices | partLotOwners,
	dataset.BillPayments:    partMeta | partCustomers | partVendors | partInvoices | partLotOwners,
	dataset.BankAccounts:    partMeta | partBalances,
}

// Records reads the book and emits dt's records. Journal entries stream as
// the transactions are read; the other types are emitted once the book is
// read, since each needs pieces from all over it (an account's balance
// sums every split).
func (b *batch) Records(ctx context.Context, emit func(source.Record) error) error {
	var emitErr error
	out := func(r source.Record) error {
		if err := emit(r); err != nil {
			emitErr = err
			return err
		}
		return nil
	}
	var err error
	switch b.dt {
	case dataset.JournalEntries:
		err = b.journal(ctx, out)
	case dataset.Payments, dataset.BillPayments:
		err = b.payments(ctx, out)
	default:
		var bk *book
		if bk, err = b.l.load(ctx, needs[b.dt], nil); err == nil {
			bk.loc = b.loc
			err = b.mapBook(bk, out)
		}
	}
	switch {
	case err == nil:
		return nil
	case emitErr != nil && errors.Is(err, emitErr):
		return emitErr
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return b.mapError(err)
}

func (b *batch) journal(ctx context.Context, emit func(source.Record) error) error {
	_, err := b.l.load(ctx, needs[b.dt], func(bk *book, t *txn) error {
		bk.loc = b.loc
		return emit(mapTxn(bk, t))
	})
	return err
}

// payments reads the book twice: first its documents, customers, vendors
// and the owners of its lots (an XML book lists them after the
// transactions, which this read drops unparsed), then its transactions,
// each payment and lot link of this side mapped and emitted as it streams
// past. Nothing is kept per payment, so the memory does not grow with
// them: kept until the book was read, they took some 700 bytes each.
func (b *batch) payments(ctx context.Context, emit func(source.Record) error) error {
	bk, err := b.l.load(ctx, needs[b.dt], nil)
	if err != nil {
		return err
	}
	bk.loc = b.loc
	p := newPayments(bk, b.dt == dataset.BillPayments)
	_, err = b.l.load(ctx, partMeta|partTypes, func(_ *book, t *txn) error {
		if t.typ != txnPayment && t.typ != txnLink {
			return nil
		}
		rec, err := p.record(t)
		if err != nil || rec == nil {
			return err
		}
		return emit(rec)
	})
	return err
}

func (b *batch) mapBook(bk *book, emit func(source.Record) error) error {
	switch b.dt {
	case dataset.Company:
		return emit(mapCompany(bk, b.name))
	case dataset.ChartOfAccounts:
		return mapAccounts(bk, emit)
	case dataset.TaxRates:
		return mapTaxRates(bk, emit)
	case dataset.Customers:
		return mapContacts(bk.customers, "customerName", emit)
	case dataset.Suppliers:
		return mapContacts(bk.vendors, "supplierName", emit)
	case dataset.Invoices, dataset.Bills:
		return mapInvoices(bk, b.dt == dataset.Bills, false, emit)
	case dataset.CreditNotes, dataset.BillCreditNotes:
		return mapInvoices(bk, b.dt == dataset.BillCreditNotes, true, emit)
	case dataset.BankAccounts:
		return mapBankAccounts(bk, emit)
	}
	return &source.Error{Status: dataset.NotSupported, Message: fmt.Sprintf("the GnuCash connector does not map %s", b.dt)}
}

func (b *batch) Close() error { return b.l.close() }

// mapError makes a fault found reading the book a MapError naming the book
// and, in XML, the line.
func (b *batch) mapError(err error) error {
	var se *source.Error
	var xe *xmlError
	var de *dataError
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &xe):
		return &source.Error{Status: dataset.MapError, Message: fmt.Sprintf("%s line %d: %v", b.name, xe.line, xe.err), Err: err}
	case errors.As(err, &de):
		return &source.Error{Status: dataset.MapError, Message: fmt.Sprintf("%s: %v", b.name, de), Err: err}
	}
	return &source.Error{Status: dataset.MapError, Message: fmt.Sprintf("reading %s: %v", b.name, err), Err: err}
}
