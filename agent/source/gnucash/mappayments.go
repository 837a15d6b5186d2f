package gnucash

import (
	"cmp"
	"math/big"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/agent/source"
)

// newPayments maps the customer payments, or with bills the vendor
// payments, of the book's payment (P) and lot-link (L) transactions.
//
// GnuCash records a payment as a transaction between the bank (or cash,
// or card) account and the receivable or payable account, with one split
// in the receivable or payable account per document lot it pays: the
// invoice's or bill's lot, a credit note's, or a lot of its own for money
// paid on account (its gncOwner slot names the customer or vendor). A
// credit note set against an invoice is a link transaction: splits in
// the receivable or payable account only, summing to zero. Each such split
// is one line of the payment, linked to the document its lot belongs to,
// or to the customer or supplier on account. A line's amount is what it
// pays, positive (a split crediting the receivable account, debiting the
// payable one); its link's amount is the change in what is owed, its
// negation. A link transaction's lines add up to 0, as Codat records a
// credit note's use. The book b must hold the documents, customers,
// vendors and lot owners; the transactions are mapped one by one
// (payments.record).
func newPayments(b *book, bills bool) *payments {
	p := &payments{docs: &docs{b: b, bills: bills, customers: byGUID(b.customers), vendors: byGUID(b.vendors)},
		lots: map[string]*invoice{}}
	p.sideType, p.sign = "RECEIVABLE", big.NewRat(-1, 1)
	if bills {
		p.sideType, p.sign = "PAYABLE", big.NewRat(1, 1)
	}
	for _, inv := range b.invoices {
		if inv.postLot != "" {
			p.lots[inv.postLot] = inv
		}
	}
	return p
}

// payments is what mapping payments looks things up in.
type payments struct {
	*docs
	lots     map[string]*invoice // a posted document's lot: the document
	sideType string              // RECEIVABLE or PAYABLE
	sign     *big.Rat            // a split's value times sign is what its line pays
}

// record maps one transaction, which it does not keep; nil when it is not
// a payment of this side
// (a vendor's, when customers' are mapped) or its party is neither a
// customer nor a vendor (an employee's expenses paid).
func (p *payments) record(t *txn) (source.Record, error) {
	places := placesOf(p.b.fraction(t.currency))
	day := t.posted.day(p.b.loc)
	if !t.postedDate.IsZero() {
		day = t.postedDate.day(p.b.loc)
	}
	type line struct {
		id     string // what the line links to
		amount *big.Rat
		rec    map[string]any
	}
	var lines []line
	var party *contact
	var xfer string
	total := new(big.Rat)
	for _, sp := range t.splits {
		if a := p.b.accounts[sp.account]; a == nil || a.typ != p.sideType {
			if xfer == "" {
				xfer = sp.account
			}
			continue
		}
		amount := new(big.Rat).Mul(sp.value, p.sign)
		total.Add(total, amount)
		link, c, err := p.link(sp)
		if err != nil {
			return nil, err
		}
		if party == nil {
			party = c
		}
		link["amount"] = decimal(new(big.Rat).Neg(amount), places)
		id, _ := link["id"].(string)
		lines = append(lines, line{id, amount, map[string]any{"amount": decimal(amount, places), "allocatedOnDate": day,
			"links": []any{link}}})
	}
	if lines == nil || party == nil {
		return nil, nil
	}
	// The books keep a transaction's splits in no set order (an SQLite
	// book's rows come as stored): the lines go in the order of what they
	// link to, then of their amount.
	slices.SortStableFunc(lines, func(x, y line) int { return cmp.Or(strings.Compare(x.id, y.id), x.amount.Cmp(y.amount)) })
	recs := make([]any, len(lines))
	for i, l := range lines {
		recs[i] = l.rec
	}
	rec := source.Record{"id": t.guid, "date": day, "currency": t.currency.id, "totalAmount": decimal(total, places),
		"lines": recs}
	if p.bills {
		rec["supplierRef"] = map[string]any{"id": party.guid, "supplierName": party.name}
	} else {
		rec["customerRef"] = map[string]any{"id": party.guid, "companyName": party.name}
	}
	if a := p.b.accounts[xfer]; a != nil && t.typ == txnPayment {
		rec["accountRef"] = map[string]any{"id": a.guid, "name": a.name}
	}
	setText(rec, "note", t.description)
	return rec, nil
}

// link is what a split pays: the document its lot belongs to, else the
// customer or vendor the lot is on account with; and that party, nil when
// it is neither of this side's (an employee).
func (p *payments) link(sp split) (map[string]any, *contact, error) {
	if inv := p.lots[sp.lot]; inv != nil {
		o, err := p.owner(inv)
		if err != nil {
			return nil, nil, err
		}
		typ := "Invoice"
		switch {
		case inv.creditNote:
			typ = "CreditNote"
		case p.bills:
			typ = "Bill"
		}
		return map[string]any{"type": typ, "id": inv.guid}, p.party(o.guid), nil
	}
	guid := p.b.lotOwners[sp.lot]
	if j := p.b.jobs[guid]; j != nil {
		guid = j.owner.guid
	}
	c := p.party(guid)
	if c == nil {
		return map[string]any{"type": "Unknown"}, nil, nil
	}
	return map[string]any{"type": "PaymentOnAccount", "id": c.guid}, c, nil
}

// party is this side's customer or vendor of that guid; nil if none.
func (p *payments) party(guid string) *contact {
	if p.bills {
		return p.vendors[guid]
	}
	return p.customers[guid]
}

// bankTypes' kinds, as Codat's bank account types: money held (Debit), or
// a credit card (Credit).
var bankAccountTypes = map[string]string{"BANK": "Debit", "CASH": "Debit", "CHECKING": "Debit", "SAVINGS": "Debit",
	"MONEYMRKT": "Debit", "CREDIT": "Credit"}

// mapBankAccounts emits the bank, cash and credit-card accounts that hold
// money (placeholders, which only group others, and GnuCash's Imbalance
// and Orphan accounts left out), with their
// balances: the sum of their splits, in the account's commodity, debit
// positive (a card's debt is negative).
func mapBankAccounts(b *book, emit func(source.Record) error) error {
	for _, g := range b.accountOrder {
		a := b.accounts[g]
		typ, ok := bankAccountTypes[a.typ]
		if !ok || a.placeholder || b.suspense(a) {
			continue
		}
		places := placesOf(a.scu)
		if a.scu <= 0 {
			places = placesOf(b.fraction(a.cmdty))
		}
		bal := b.balances[g]
		if bal == nil {
			bal = new(big.Rat)
		}
		status := "Active"
		if a.hidden {
			status = "Archived"
		}
		rec := source.Record{"id": g, "accountName": a.name, "accountType": typ, "balance": decimal(bal, places),
			"status": status}
		setText(rec, "nominalCode", a.code)
		setText(rec, "currency", a.cmdty.id)
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}
