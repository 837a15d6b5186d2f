package gnucash

import (
	"cmp"
	"math/big"
	"slices"

	"github.com/ferry-sync/ferry/agent/source"
)

// docs is what mapping invoices and bills looks things up in.
type docs struct {
	b         *book
	bills     bool
	credit    bool // credit notes rather than invoices or bills
	customers map[string]*contact
	vendors   map[string]*contact
	taxTables map[string]*taxTable
	lines     map[string][]*entry // document guid: its entries
}

// mapInvoices emits the customer invoices, or with bills the vendor bills;
// with credit the credit notes of either, which are GnuCash documents with
// the credit-note flag (and only those: an invoice or a bill is never a
// credit note). A document owned by a job belongs to the job's owner;
// employees' expense vouchers are neither.
func mapInvoices(b *book, bills, credit bool, emit func(source.Record) error) error {
	d := &docs{b: b, bills: bills, credit: credit, customers: byGUID(b.customers), vendors: byGUID(b.vendors),
		taxTables: map[string]*taxTable{}, lines: map[string][]*entry{}}
	for _, t := range b.taxTables {
		d.taxTables[t.guid] = t
	}
	for _, e := range b.entries {
		doc := e.invoice
		if bills {
			doc = e.bill
		}
		if doc != "" {
			d.lines[doc] = append(d.lines[doc], e)
		}
	}
	for _, inv := range b.invoices {
		if inv.creditNote != credit {
			continue
		}
		o, err := d.owner(inv)
		if err != nil {
			return err
		}
		if o.kind != map[bool]ownerKind{false: ownerCustomer, true: ownerVendor}[bills] {
			continue
		}
		rec, err := d.record(inv, o)
		if err != nil {
			return err
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}

func byGUID(list []*contact) map[string]*contact {
	m := make(map[string]*contact, len(list))
	for _, c := range list {
		m[c.guid] = c
	}
	return m
}

// owner is the document's customer, vendor or employee, through its job.
func (d *docs) owner(inv *invoice) (owner, error) {
	o := inv.owner
	if o.kind == ownerJob {
		j := d.b.jobs[o.guid]
		if j == nil {
			return o, dataErrorf("invoice %s belongs to job %s, which is not in the book", inv.id, o.guid)
		}
		o = j.owner
	}
	if o.kind == ownerNone || o.kind == ownerJob {
		return o, dataErrorf("invoice %s has no customer, vendor or employee", inv.id)
	}
	return o, nil
}

func (d *docs) record(inv *invoice, o owner) (source.Record, error) {
	fraction := d.b.fraction(inv.currency)
	places := placesOf(fraction)
	c := d.customers[o.guid]
	if d.bills {
		c = d.vendors[o.guid]
	}
	if c == nil {
		return nil, dataErrorf("invoice %s belongs to %s, who is not in the book", inv.id, o.guid)
	}
	entries := d.lines[inv.guid]
	slices.SortStableFunc(entries, func(a, b *entry) int {
		return cmp.Or(a.date.t.Compare(b.date.t), a.entered.t.Compare(b.entered.t), cmp.Compare(a.guid, b.guid))
	})
	sub, tax, disc := new(big.Rat), new(big.Rat), new(big.Rat)
	items := make([]any, 0, len(entries))
	for _, e := range entries {
		item, l := d.lineItem(e, inv.creditNote, fraction)
		sub.Add(sub, l.net)
		tax.Add(tax, l.tax)
		disc.Add(disc, l.discount)
		items = append(items, item)
	}
	total := new(big.Rat).Add(sub, tax)
	rec := source.Record{"id": inv.guid, "currency": inv.currency.id, "lineItems": items,
		"subTotal": decimal(sub, places), "totalAmount": decimal(total, places)}
	due := d.amountDue(inv, total)
	switch {
	case d.credit:
		d.creditFields(rec, inv, c, total, tax, disc, due, places)
	case d.bills:
		rec["reference"] = inv.id
		rec["supplierRef"] = map[string]any{"id": c.guid, "supplierName": c.name}
		rec["taxAmount"] = decimal(tax, places)
	default:
		rec["invoiceNumber"] = inv.id
		rec["customerRef"] = map[string]any{"id": c.guid, "companyName": c.name}
		rec["totalTaxAmount"] = decimal(tax, places)
	}
	if disc.Sign() != 0 && !d.credit {
		rec["totalDiscount"] = decimal(disc, places)
	}
	setText(rec, "note", inv.notes)
	if !d.credit {
		rec["amountDue"] = decimal(due, places)
		rec["status"] = d.status(inv, total, due)
	}
	issued := inv.opened
	if inv.isPosted() && !inv.posted.IsZero() {
		issued = inv.posted
		dueDate, ok := d.b.dueDates[inv.postTxn]
		if !ok {
			dueDate = inv.posted // GnuCash's own fallback
		}
		if !d.credit { // a credit note falls due for nothing
			rec["dueDate"] = dueDate.day(d.b.loc)
		}
	}
	if !issued.IsZero() {
		rec["issueDate"] = issued.day(d.b.loc)
	}
	return rec, nil
}

// creditFields sets a credit note's own fields: Codat's names, the same
// for credit given and received but for the number and the party, and
// remainingCredit, the credit not yet used (the document's amount due,
// which is negative for a credit note, negated).
func (d *docs) creditFields(rec source.Record, inv *invoice, c *contact, total, tax, disc, due *big.Rat, places int) {
	if d.bills {
		rec["billCreditNoteNumber"] = inv.id
		rec["supplierRef"] = map[string]any{"id": c.guid, "supplierName": c.name}
	} else {
		rec["creditNoteNumber"] = inv.id
		rec["customerRef"] = map[string]any{"id": c.guid, "companyName": c.name}
	}
	remaining := new(big.Rat).Neg(due)
	if !inv.isPosted() {
		remaining.Neg(remaining) // nothing is due, and the whole credit remains
	}
	rec["totalTaxAmount"] = decimal(tax, places)
	rec["totalDiscount"] = decimal(disc, places)
	rec["discountPercentage"] = decimal(new(big.Rat), 0)
	rec["remainingCredit"] = decimal(remaining, places)
	status := d.status(inv, total, remaining)
	if status == "Open" {
		status = "Submitted" // a bill's word; credit notes have one set of statuses
	}
	rec["status"] = status
}

// amountDue is what is left to pay: a posted document's lot balance in its
// receivable or payable account (debit positive, so a bill's is negated),
// an unposted one's total, as nothing can be paid against it yet.
func (d *docs) amountDue(inv *invoice, total *big.Rat) *big.Rat {
	if !inv.isPosted() {
		return total
	}
	lot, ok := d.b.lots[inv.postLot]
	if !ok {
		return total
	}
	due := new(big.Rat).Set(lot)
	if d.bills {
		due.Neg(due)
	}
	return due
}

// status is Draft until posted, then by what is left to pay.
func (d *docs) status(inv *invoice, total, due *big.Rat) string {
	switch {
	case !inv.isPosted():
		return "Draft"
	case due.Sign() == 0:
		return "Paid"
	case new(big.Rat).Abs(due).Cmp(new(big.Rat).Abs(total)) >= 0:
		if d.bills {
			return "Open"
		}
		return "Submitted"
	}
	return "PartiallyPaid"
}

// line is one entry's amounts in the document's currency, rounded.
type line struct{ net, tax, discount *big.Rat }

func (d *docs) lineItem(e *entry, creditNote bool, fraction int64) (map[string]any, line) {
	side := e.i
	if d.bills {
		side = e.b
	}
	var tt *taxTable
	if side.taxable {
		tt = d.taxTables[side.taxTable]
	}
	qty, price := orZero(e.qty), orZero(side.price)
	l := computeLine(qty, price, tt, side, fraction)
	if creditNote { // GnuCash keeps a credit note's lines positive and negates its values
		qty = new(big.Rat).Neg(qty)
		l = line{new(big.Rat).Neg(l.net), new(big.Rat).Neg(l.tax), new(big.Rat).Neg(l.discount)}
	}
	places := placesOf(fraction)
	item := map[string]any{"quantity": decimal(qty, 0), "unitAmount": decimal(price, 0),
		"subTotal": decimal(l.net, places), "taxAmount": decimal(l.tax, places),
		"totalAmount": decimal(new(big.Rat).Add(l.net, l.tax), places)}
	setText(item, "description", e.description)
	if l.discount.Sign() != 0 {
		item["discountAmount"] = decimal(l.discount, places)
	}
	if side.account != "" {
		ref := map[string]any{"id": side.account}
		if a := d.b.accounts[side.account]; a != nil {
			ref["name"] = a.name
		}
		item["accountRef"] = ref
	}
	if tt != nil {
		item["taxRateRef"] = map[string]any{"id": tt.guid, "name": tt.name}
	}
	return item, l
}

func orZero(r *big.Rat) *big.Rat {
	if r == nil {
		return new(big.Rat)
	}
	return r
}

var hundred = big.NewRat(100, 1)

// computeLine is GnuCash's gncEntryComputeValue: the line's value before
// tax, its discount and its taxes, each rounded to the currency's smallest
// unit, half away from zero.
//
//  1. aggregate = quantity × price
//  2. with tax included, pretax = (aggregate − value taxes) / (1 + percent taxes)
//  3. discount (invoices only): PRETAX and SAMETIME take it off pretax
//     (PRETAX before tax is computed); POSTTAX takes a percentage of
//     pretax + taxes
//  4. each percentage tax is pretax × rate, each value tax its amount
func computeLine(qty, price *big.Rat, tt *taxTable, side entrySide, fraction int64) line {
	aggregate := new(big.Rat).Mul(qty, price)
	tpercent, tvalue := new(big.Rat), new(big.Rat)
	if tt != nil {
		for _, e := range tt.entries {
			if e.percent {
				tpercent.Add(tpercent, e.amount)
			} else {
				tvalue.Add(tvalue, e.amount)
			}
		}
	}
	tpercent.Quo(tpercent, hundred)
	pretax := new(big.Rat).Set(aggregate)
	if onePlus := new(big.Rat).Add(tpercent, big.NewRat(1, 1)); tt != nil && side.taxIncluded && onePlus.Sign() != 0 {
		pretax.Sub(aggregate, tvalue)
		pretax.Quo(pretax, onePlus)
	}
	discount := new(big.Rat)
	if side.discount != nil {
		discount.Set(side.discount)
	}
	var result *big.Rat
	if side.discHow == "POSTTAX" {
		if side.discPercent {
			after := new(big.Rat).Mul(pretax, tpercent)
			after.Add(after, pretax).Add(after, tvalue)
			discount.Mul(after, discount.Quo(discount, hundred))
		}
		result = new(big.Rat).Sub(pretax, discount)
	} else {
		if side.discPercent {
			discount.Mul(pretax, discount.Quo(discount, hundred))
		}
		result = new(big.Rat).Sub(pretax, discount)
		if side.discHow != "SAMETIME" {
			pretax = result
		}
	}
	tax := new(big.Rat)
	if tt != nil {
		for _, e := range tt.entries {
			v := e.amount
			if e.percent {
				v = new(big.Rat).Mul(pretax, new(big.Rat).Quo(e.amount, hundred))
			}
			tax.Add(tax, roundTo(v, fraction))
		}
	}
	return line{net: roundTo(result, fraction), tax: tax, discount: roundTo(discount, fraction)}
}
