package gnucash

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// reading is one opened version of the book, read for one data type (a
// Fetch's batch) or several (FetchTypes).
type reading struct {
	l    loader
	name string // the book's file name, for messages
	// warnings are what the fetch noticed (the book is open in GnuCash).
	warnings []source.Warning
	// loc is the zone dates stored as instants are read in when the book
	// records none.
	loc *time.Location
	// loads counts the reads of the book (Source.loads).
	loads *atomic.Int64
}

var _ source.MultiBatch = (*reading)(nil)

// batch is a Fetch's batch: the reading of one data type.
type batch struct {
	r  *reading
	dt dataset.DataType
}

var _ source.Warner = (*batch)(nil)

// Warnings are what Fetch noticed about the book: that GnuCash had it open.
func (b *batch) Warnings() []source.Warning { return b.r.warnings }

// Records reads the book and emits the type's records (see read).
func (b *batch) Records(ctx context.Context, emit func(source.Record) error) (err error) {
	b.r.Records(ctx, []source.Sink{{Type: b.dt, Emit: emit, Done: func(e error) { err = e }}})
	return err
}

func (b *batch) Close() error { return b.r.Close() }

// needs is what each data type reads of the book; payments read their
// transactions again (payments).
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

// Fetched: every data type is read from the book (one with no records is
// an empty sync); what is not a data type is NotSupported.
func (r *reading) Fetched(dt dataset.DataType) ([]source.Warning, error) {
	if err := source.Check(context.Background(), dt); err != nil {
		return nil, err
	}
	return r.warnings, nil
}

func (r *reading) Close() error { return r.l.close() }

// Records reads the book once for every sink (see read).
func (r *reading) Records(ctx context.Context, sinks []source.Sink) {
	ss := make([]*sink, len(sinks))
	for i, s := range sinks {
		ss[i] = &sink{Sink: s}
	}
	r.read(ctx, ss)
}

// sink is a source.Sink and how far its type got.
type sink struct {
	source.Sink
	ended   bool
	emitted int   // records emitted
	skip    int   // records to skip, emitted before a read started again
	emitErr error // what Emit returned
}

// emit sends rec unless it was sent before the book was read again.
func (s *sink) emit(rec source.Record) error {
	if s.skip > 0 {
		s.skip--
		return nil
	}
	if err := s.Emit(rec); err != nil {
		s.emitErr = err
		return err
	}
	s.emitted++
	return nil
}

func (s *sink) end(err error) {
	if !s.ended {
		s.ended = true
		s.Done(err)
	}
}

// errAllDone stops a read that no sink waits for any more.
var errAllDone = errors.New("every type read is done")

// read reads the book for the sinks: one pass that keeps what all their
// types need, journal entries mapped and emitted as the transactions
// stream past, the other types emitted once the book is read (each needs
// pieces from all over it: an account's balance sums every split); then,
// with payments among them, a second pass over the transactions, each
// payment mapped as it passes (payments). A fault in the first pass ends
// a lone type; with several, each is read again on its own, as a Fetch
// of it would be, so that a fault in a part of the book only some types
// read fails only those (a journal entry emitted already is not sent
// again).
func (r *reading) read(ctx context.Context, ss []*sink) {
	var parts part
	var journal, others, pays []*sink
	for _, s := range ss {
		parts |= needs[s.Type]
		switch s.Type {
		case dataset.JournalEntries:
			journal = append(journal, s)
		case dataset.Payments, dataset.BillPayments:
			pays = append(pays, s)
		default:
			others = append(others, s)
		}
	}
	var onTxn txnFunc
	if journal != nil {
		onTxn = func(bk *book, t *txn) error {
			bk.loc = r.loc
			rec := mapTxn(bk, t)
			for _, s := range journal {
				if !s.ended && s.emit(rec) != nil {
					s.end(s.emitErr)
				}
			}
			return r.stopWhenDone(ss)
		}
	}
	bk, err := r.load(ctx, parts, onTxn)
	if err != nil {
		if errors.Is(err, errAllDone) {
			return
		}
		if going := r.going(ss); len(going) > 1 && ctx.Err() == nil {
			for _, s := range going {
				s.skip, s.emitted = s.emitted, 0
				r.read(ctx, []*sink{s})
			}
			return
		}
		r.endAll(ctx, ss, err)
		return
	}
	bk.loc = r.loc
	clear(bk.imbalanceIDs) // found again in the whole book, as a type alone would
	for _, s := range journal {
		s.end(nil)
	}
	for _, s := range others {
		if !s.ended {
			s.end(r.outcome(ctx, s, r.mapBook(bk, s)))
		}
	}
	if r.going(pays) != nil {
		r.payments(ctx, bk, pays)
	}
}

// payments reads the book's transactions again, after the first read of
// its documents, customers, vendors and the owners of its lots (an XML
// book lists them after the transactions, which a read for payments alone
// drops unparsed), each payment and lot link of a sink's side mapped and
// emitted as it streams past. Nothing is kept per payment, so the memory
// does not grow with them: kept until the book was read, they took some
// 700 bytes each.
func (r *reading) payments(ctx context.Context, bk *book, ss []*sink) {
	mappers := make([]*payments, len(ss))
	for i, s := range ss {
		mappers[i] = newPayments(bk, s.Type == dataset.BillPayments)
	}
	_, err := r.load(ctx, partMeta|partTypes, func(_ *book, t *txn) error {
		if t.typ != txnPayment && t.typ != txnLink {
			return nil
		}
		for i, s := range ss {
			if s.ended {
				continue
			}
			rec, err := mappers[i].record(t)
			switch {
			case err != nil:
				s.end(r.mapError(err))
			case rec != nil && s.emit(rec) != nil:
				s.end(s.emitErr)
			}
		}
		return r.stopWhenDone(ss)
	})
	if errors.Is(err, errAllDone) {
		return
	}
	r.endAll(ctx, ss, err)
}

// load is the loader's load, counted.
func (r *reading) load(ctx context.Context, parts part, onTxn txnFunc) (*book, error) {
	r.loads.Add(1)
	return r.l.load(ctx, parts, onTxn)
}

// stopWhenDone is errAllDone when every sink has ended.
func (r *reading) stopWhenDone(ss []*sink) error {
	if r.going(ss) == nil {
		return errAllDone
	}
	return nil
}

// going are the sinks not ended.
func (r *reading) going(ss []*sink) []*sink {
	var out []*sink
	for _, s := range ss {
		if !s.ended {
			out = append(out, s)
		}
	}
	return out
}

// endAll ends every sink still going with err's outcome (nil: done).
func (r *reading) endAll(ctx context.Context, ss []*sink, err error) {
	for _, s := range ss {
		if !s.ended {
			s.end(r.outcome(ctx, s, err))
		}
	}
}

// outcome is what a type's read that ended in err (nil: done) ends with:
// the error its Emit returned as it is, ctx's, or a MapError.
func (r *reading) outcome(ctx context.Context, s *sink, err error) error {
	switch {
	case err == nil:
		return nil
	case s.emitErr != nil && errors.Is(err, s.emitErr):
		return s.emitErr
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return r.mapError(err)
}

// mapBook emits the records of s's type, which the book read holds.
func (r *reading) mapBook(bk *book, s *sink) error {
	switch s.Type {
	case dataset.Company:
		return s.emit(mapCompany(bk, r.name))
	case dataset.ChartOfAccounts:
		return mapAccounts(bk, s.emit)
	case dataset.TaxRates:
		return mapTaxRates(bk, s.emit)
	case dataset.Customers:
		return mapContacts(bk.customers, "customerName", s.emit)
	case dataset.Suppliers:
		return mapContacts(bk.vendors, "supplierName", s.emit)
	case dataset.Invoices, dataset.Bills:
		return mapInvoices(bk, s.Type == dataset.Bills, false, s.emit)
	case dataset.CreditNotes, dataset.BillCreditNotes:
		return mapInvoices(bk, s.Type == dataset.BillCreditNotes, true, s.emit)
	case dataset.BankAccounts:
		return mapBankAccounts(bk, s.emit)
	}
	return &source.Error{Status: dataset.NotSupported, Message: fmt.Sprintf("the GnuCash connector does not map %s", s.Type)}
}

// mapError makes a fault found reading the book a MapError naming the book
// and, in XML, the line.
func (r *reading) mapError(err error) error {
	var se *source.Error
	var xe *xmlError
	var de *dataError
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &xe):
		return &source.Error{Status: dataset.MapError, Message: fmt.Sprintf("%s line %d: %v", r.name, xe.line, xe.err), Err: err}
	case errors.As(err, &de):
		return &source.Error{Status: dataset.MapError, Message: fmt.Sprintf("%s: %v", r.name, de), Err: err}
	}
	return &source.Error{Status: dataset.MapError, Message: fmt.Sprintf("reading %s: %v", r.name, err), Err: err}
}
