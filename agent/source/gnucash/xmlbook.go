package gnucash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
)

// xmlLoader reads an XML book, compressed or not, in one pass per load.
type xmlLoader struct {
	r io.Reader // the XML text, for the first load
	// reread is the XML text again from its start, for each later load:
	// the file Fetch opened read again, the version of the book it was
	// then, whatever GnuCash saved over it since.
	reread func() (io.Reader, error)
	closer func() error
}

func (l *xmlLoader) close() error { return l.closer() }

// text is the book's XML text for a load.
func (l *xmlLoader) text() (io.Reader, error) {
	if r := l.r; r != nil {
		l.r = nil
		return r, nil
	}
	if l.reread == nil {
		return nil, errors.New("the book can be read only once")
	}
	return l.reread()
}

// maxKept bounds the objects a load keeps (accounts, commodities, business
// objects): far above any real book, low enough to bound memory.
const maxKept = 1_000_000

// dataError is a value in the book that cannot be read.
type dataError struct{ msg string }

func (e *dataError) Error() string { return e.msg }

func dataErrorf(format string, args ...any) error {
	return &dataError{msg: fmt.Sprintf(format, args...)}
}

func (l *xmlLoader) load(ctx context.Context, parts part, onTxn txnFunc) (*book, error) {
	b := newBook()
	x := &xmlObjects{book: b, parts: parts, onTxn: onTxn}
	drop := []string{"gnc:pricedb", "gnc:template-transactions", "gnc:schedxaction", "gnc:budget"}
	if !x.want("gnc:transaction") {
		drop = append(drop, "gnc:transaction")
	}
	r, err := l.text()
	if err != nil {
		return nil, err
	}
	w := newWalker(r, drop...)
	err = w.walk(ctx, x.want, func(name string, t *tree) error {
		err := x.visit(name, t.root())
		var de *dataError
		if errors.As(err, &de) {
			return w.syntax(err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// xmlObjects turns the objects of one load into the book.
type xmlObjects struct {
	book  *book
	parts part
	onTxn txnFunc
	txn   txn
	kept  int
}

// wants is which objects each part reads.
var wants = map[string]part{
	"book:slots": partMeta, "gnc:commodity": partMeta, "gnc:account": partMeta | partBalances,
	"gnc:transaction": partBalances | partLots, "gnc:GncTaxTable": partTaxTables | partInvoices,
	"gnc:GncCustomer": partCustomers | partInvoices, "gnc:GncVendor": partVendors | partInvoices,
	"gnc:GncJob": partInvoices, "gnc:GncInvoice": partInvoices, "gnc:GncEntry": partInvoices,
}

func (x *xmlObjects) want(name string) bool {
	return x.parts&wants[name] != 0 || name == "gnc:transaction" && x.onTxn != nil
}

func (x *xmlObjects) visit(name string, n nodeRef) error {
	if name != "gnc:transaction" {
		if x.kept++; x.kept > maxKept {
			return dataErrorf("the book holds more than %d accounts and business objects", maxKept)
		}
	}
	b := x.book
	switch name {
	case "book:slots":
		readOptions(n, b.options)
	case "gnc:commodity":
		return x.commodity(n)
	case "gnc:account":
		return x.account(n)
	case "gnc:transaction":
		return x.transaction(n)
	case "gnc:GncTaxTable":
		return x.taxTable(n)
	case "gnc:GncCustomer":
		c, err := xmlContact(n, "cust:")
		b.customers = append(b.customers, c)
		return err
	case "gnc:GncVendor":
		c, err := xmlContact(n, "vendor:")
		b.vendors = append(b.vendors, c)
		return err
	case "gnc:GncJob":
		j := &job{guid: n.child("job:guid").text(), id: n.child("job:id").text(),
			name: n.child("job:name").rawText(), owner: xmlOwner(n.child("job:owner"))}
		b.jobs[j.guid] = j
	case "gnc:GncInvoice":
		return x.invoice(n)
	case "gnc:GncEntry":
		return x.entry(n)
	}
	return nil
}

func (x *xmlObjects) commodity(n nodeRef) error {
	c := &commodity{ref: xmlCmdty(n), name: n.child("cmdty:name").rawText()}
	if f := n.child("cmdty:fraction"); f.ok() {
		v, err := strconv.ParseInt(f.text(), 10, 64)
		if err != nil || v <= 0 {
			return dataErrorf("commodity %s: fraction %q is not a positive whole number", c.ref.id, truncate(f.text(), 40))
		}
		c.fraction = v
	}
	x.book.addCommodity(c)
	return nil
}

func xmlCmdty(n nodeRef) cmdty {
	return cmdty{space: n.child("cmdty:space").text(), id: n.child("cmdty:id").text()}
}

func (x *xmlObjects) account(n nodeRef) error {
	a := &account{
		guid: n.child("act:id").text(), name: n.child("act:name").rawText(), typ: n.child("act:type").text(),
		code: n.child("act:code").text(), description: n.child("act:description").rawText(),
		parent: n.child("act:parent").text(), cmdty: xmlCmdty(n.child("act:commodity")),
	}
	if a.guid == "" {
		return dataErrorf("an account (%q) has no id", truncate(a.name, 60))
	}
	if s := n.child("act:commodity-scu"); s.ok() {
		v, err := strconv.ParseInt(s.text(), 10, 64)
		if err != nil || v <= 0 {
			return dataErrorf("account %s: commodity-scu %q is not a positive whole number", a.guid, truncate(s.text(), 40))
		}
		a.scu = v
	}
	if x.parts&partLotOwners != 0 {
		x.lotOwners(n.child("act:lots"))
	}
	slots := n.child("act:slots")
	a.placeholder = slotValue(slots, "placeholder").text() == "true"
	a.hidden = slotValue(slots, "hidden").text() == "true"
	if a.typ == "ROOT" && a.parent == "" && x.book.rootGUID == "" {
		x.book.rootGUID = a.guid
	}
	x.book.addAccount(a)
	return nil
}

// lotOwners reads which customer, vendor or job each of an account's lots
// belongs to, where the lot says (GnuCash's gncOwner slot).
func (x *xmlObjects) lotOwners(lots nodeRef) {
	lots.each("gnc:lot", func(l nodeRef) error {
		if g := slotValue(slotValue(l.child("lot:slots"), "gncOwner"), "owner-guid").text(); g != "" {
			x.book.lotOwners[l.child("lot:id").text()] = g
		}
		return nil
	})
}

// transaction reads a transaction into the reused txn, adds its splits to
// the sums asked for, and streams it.
func (x *xmlObjects) transaction(n nodeRef) error {
	t := &x.txn
	*t = txn{guid: n.child("trn:id").text(), splits: t.splits[:0], currency: xmlCmdty(n.child("trn:currency")),
		description: n.child("trn:description").rawText()}
	var err error
	if t.posted, err = xmlStamp(n.child("trn:date-posted")); err != nil {
		return dataErrorf("transaction %s: date posted: %v", t.guid, err)
	}
	if t.entered, err = xmlStamp(n.child("trn:date-entered")); err != nil {
		return dataErrorf("transaction %s: date entered: %v", t.guid, err)
	}
	slots := n.child("trn:slots")
	t.typ = slotValue(slots, "trans-txn-type").text()
	if d := slotValue(slots, "date-posted").child("gdate"); d.ok() {
		if t.postedDate, err = parseGDate(d.text()); err != nil {
			return dataErrorf("transaction %s: date posted: %v", t.guid, err)
		}
	}
	if due := slotValue(slots, "trans-date-due"); due.ok() && x.parts&partLots != 0 {
		s, err := parseXMLStamp(due.child("ts:date").text())
		if err != nil {
			return dataErrorf("transaction %s: due date: %v", t.guid, err)
		}
		x.book.dueDates[t.guid] = s
	}
	err = n.child("trn:splits").each("trn:split", func(s nodeRef) error {
		sp := split{account: s.child("split:account").text(), memo: s.child("split:memo").rawText(),
			lot: s.child("split:lot").text()}
		var err error
		if sp.value, err = parseRat(s.child("split:value").text()); err != nil {
			return dataErrorf("transaction %s: split %d value: %v", t.guid, len(t.splits)+1, err)
		}
		if sp.quantity, err = parseRat(s.child("split:quantity").text()); err != nil {
			return dataErrorf("transaction %s: split %d quantity: %v", t.guid, len(t.splits)+1, err)
		}
		t.splits = append(t.splits, sp)
		return nil
	})
	if err != nil {
		return err
	}
	x.sum(t)
	if x.onTxn != nil {
		return x.onTxn(x.book, t)
	}
	return nil
}

// sum adds a transaction's splits to the balances and lots asked for.
func (x *xmlObjects) sum(t *txn) {
	if x.parts&partBalances != 0 {
		x.book.addImbalance(t)
	}
	for _, sp := range t.splits {
		if x.parts&partBalances != 0 {
			add(x.book.balances, sp.account, sp.quantity)
		}
		if sp.lot != "" && x.parts&partLots != 0 {
			add(x.book.lots, sp.lot, sp.quantity)
		}
	}
}

// xmlStamp reads the <ts:date> inside n; absent is the zero stamp.
func xmlStamp(n nodeRef) (stamp, error) {
	d := n.child("ts:date")
	if !d.ok() {
		return stamp{}, nil
	}
	return parseXMLStamp(d.text())
}

func (x *xmlObjects) taxTable(n nodeRef) error {
	tt := &taxTable{guid: n.child("taxtable:guid").text(), name: n.child("taxtable:name").rawText(),
		parent: n.child("taxtable:parent").text(), invisible: n.child("taxtable:invisible").text() == "1"}
	err := n.child("taxtable:entries").each("gnc:GncTaxTableEntry", func(e nodeRef) error {
		amount, err := parseRat(e.child("tte:amount").text())
		if err != nil {
			return dataErrorf("tax table %s: amount: %v", tt.name, err)
		}
		tt.entries = append(tt.entries, taxEntry{account: e.child("tte:acct").text(), amount: amount,
			percent: e.child("tte:type").text() == "PERCENT"})
		return nil
	})
	x.book.taxTables = append(x.book.taxTables, tt)
	return err
}

func xmlContact(n nodeRef, p string) (*contact, error) {
	c := &contact{guid: n.child(p + "guid").text(), id: n.child(p + "id").text(), name: n.child(p + "name").rawText(),
		notes: n.child(p + "notes").rawText(), active: n.child(p+"active").text() != "0",
		currency: xmlCmdty(n.child(p + "currency")), addr: xmlAddr(n.child(p + "addr")), ship: xmlAddr(n.child(p + "shipaddr"))}
	if c.guid == "" {
		return c, dataErrorf("%s %q has no guid", map[string]string{"cust:": "customer", "vendor:": "vendor"}[p], truncate(c.name, 60))
	}
	return c, nil
}

func xmlAddr(n nodeRef) addr {
	return addr{name: n.child("addr:name").rawText(), phone: n.child("addr:phone").text(),
		fax: n.child("addr:fax").text(), email: n.child("addr:email").text(),
		lines: [4]string{n.child("addr:addr1").rawText(), n.child("addr:addr2").rawText(),
			n.child("addr:addr3").rawText(), n.child("addr:addr4").rawText()}}
}

var ownerKinds = map[string]ownerKind{
	"gncCustomer": ownerCustomer, "gncJob": ownerJob, "gncVendor": ownerVendor, "gncEmployee": ownerEmployee,
}

func xmlOwner(n nodeRef) owner {
	return owner{kind: ownerKinds[n.child("owner:type").text()], guid: n.child("owner:id").text()}
}

func (x *xmlObjects) invoice(n nodeRef) error {
	inv := &invoice{guid: n.child("invoice:guid").text(), id: n.child("invoice:id").text(),
		notes: n.child("invoice:notes").rawText(), owner: xmlOwner(n.child("invoice:owner")),
		postTxn: n.child("invoice:posttxn").text(), postLot: n.child("invoice:postlot").text(),
		postAcc: n.child("invoice:postacc").text(), currency: xmlCmdty(n.child("invoice:currency")),
		creditNote: slotValue(n.child("invoice:slots"), "credit-note").text() == "1"}
	var err error
	if inv.opened, err = xmlStamp(n.child("invoice:opened")); err != nil {
		return dataErrorf("invoice %s: date opened: %v", inv.id, err)
	}
	if inv.posted, err = xmlStamp(n.child("invoice:posted")); err != nil {
		return dataErrorf("invoice %s: date posted: %v", inv.id, err)
	}
	x.book.invoices = append(x.book.invoices, inv)
	return nil
}

func (x *xmlObjects) entry(n nodeRef) error {
	e := &entry{guid: n.child("entry:guid").text(), description: n.child("entry:description").rawText(),
		action: n.child("entry:action").text(), invoice: n.child("entry:invoice").text(), bill: n.child("entry:bill").text()}
	var err error
	num := func(name string) *big.Rat {
		v := n.child(name)
		if err != nil || !v.ok() {
			return nil
		}
		var r *big.Rat
		if r, err = parseRat(v.text()); err != nil {
			err = dataErrorf("entry %s: %s: %v", e.guid, name[len("entry:"):], err)
		}
		return r
	}
	e.qty = num("entry:qty")
	e.i = entrySide{account: n.child("entry:i-acct").text(), price: num("entry:i-price"), discount: num("entry:i-discount"),
		discPercent: n.child("entry:i-disc-type").text() != "VALUE", discHow: n.child("entry:i-disc-how").text(),
		taxable: n.child("entry:i-taxable").text() == "1", taxIncluded: n.child("entry:i-taxincluded").text() == "1",
		taxTable: n.child("entry:i-taxtable").text()}
	e.b = entrySide{account: n.child("entry:b-acct").text(), price: num("entry:b-price"),
		taxable: n.child("entry:b-taxable").text() == "1", taxIncluded: n.child("entry:b-taxincluded").text() == "1",
		taxTable: n.child("entry:b-taxtable").text()}
	if err != nil {
		return err
	}
	if e.date, err = xmlStamp(n.child("entry:date")); err == nil {
		e.entered, err = xmlStamp(n.child("entry:entered"))
	}
	if err != nil {
		return dataErrorf("entry %s: date: %v", e.guid, err)
	}
	x.book.entries = append(x.book.entries, e)
	return nil
}

// slotValue is the <slot:value> of the slot keyed key among the <slot>s
// under n; absent when there is none.
func slotValue(n nodeRef, key string) nodeRef {
	found := nodeRef{n.t, -1}
	n.each("slot", func(s nodeRef) error {
		if s.child("slot:key").text() == key {
			found = s.child("slot:value")
			return errStop
		}
		return nil
	})
	return found
}

var errStop = errors.New("stop")

// maxOptions bounds the book options kept.
const maxOptions = 1000

// readOptions reads the book's string options ("options" frame of the book
// slots) into opts, keyed by their path: "Business/Company Name".
func readOptions(slots nodeRef, opts map[string]string) {
	var walk func(frame nodeRef, prefix string)
	walk = func(frame nodeRef, prefix string) {
		frame.each("slot", func(s nodeRef) error {
			key, v := s.child("slot:key").text(), s.child("slot:value")
			switch v.typ() {
			case "frame":
				walk(v, prefix+key+"/")
			case "string":
				if len(opts) < maxOptions {
					opts[prefix+key] = v.rawText()
				}
			}
			return nil
		})
	}
	walk(slotValue(slots, "options"), "")
}
