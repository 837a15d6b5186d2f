package gnucash

import (
	"context"
	"math/big"
	"time"
)

// The book as the mappers see it, whichever format it came from: only what
// the standard model needs. Transactions are not kept: they stream past.

// cmdty names a commodity: a currency (namespace CURRENCY, "EUR") or a
// security ("NASDAQ", "AAPL").
type cmdty struct{ space, id string }

// isCurrency: old books name the currency namespace ISO4217.
func (c cmdty) isCurrency() bool { return c.space == "CURRENCY" || c.space == "ISO4217" }

type commodity struct {
	ref      cmdty
	name     string
	fraction int64 // smallest unit, 100 for cents; 0 when the book does not say
}

type account struct {
	guid, name, typ, code, description, parent string
	cmdty                                      cmdty
	scu                                        int64 // the account's smallest unit, 0 when not set
	hidden, placeholder                        bool
}

// contact is a customer or a vendor.
type contact struct {
	guid, id, name, notes string
	active                bool
	currency              cmdty
	addr, ship            addr
}

type addr struct {
	name              string
	lines             [4]string
	phone, fax, email string
}

func (a addr) empty() bool { return a == addr{} }

type ownerKind uint8

const (
	ownerNone ownerKind = iota
	ownerCustomer
	ownerJob
	ownerVendor
	ownerEmployee
)

type owner struct {
	kind ownerKind
	guid string
}

type job struct {
	guid, id, name string
	owner          owner
}

// invoice is any GnuCash business document: a customer invoice, a vendor
// bill or an employee's expense voucher, told apart by its owner.
type invoice struct {
	guid, id, notes           string
	owner                     owner
	opened, posted            stamp
	postTxn, postLot, postAcc string
	currency                  cmdty
	creditNote                bool
}

func (inv *invoice) isPosted() bool { return inv.postTxn != "" }

// entry is one line of an invoice (the i side) or of a bill (the b side).
type entry struct {
	guid                string
	date, entered       stamp
	description, action string
	qty                 *big.Rat
	invoice, bill       string
	i, b                entrySide
}

type entrySide struct {
	account              string
	price                *big.Rat
	discount             *big.Rat // invoices only
	discPercent          bool     // discount is a percentage (else a value)
	discHow              string   // PRETAX, SAMETIME or POSTTAX
	taxable, taxIncluded bool
	taxTable             string
}

type taxTable struct {
	guid, name, parent string
	invisible          bool
	entries            []taxEntry
}

type taxEntry struct {
	account string
	amount  *big.Rat // a percentage (19 for 19%) or a value in the document's currency
	percent bool
}

type txn struct {
	guid            string
	currency        cmdty
	posted, entered stamp
	postedDate      stamp // the date-posted slot, when the book has one
	description     string
	typ             string // the trans-txn-type slot: I invoice, P payment, L lot link, "" other
	splits          []split
}

// The transaction types of GnuCash's business features (trans-txn-type).
const (
	txnPayment = "P" // money paid or received, applied to documents' lots
	txnLink    = "L" // documents' lots set against each other (a credit note used)
)

type split struct {
	account, memo, lot string
	value, quantity    *big.Rat
}

// book is what one Fetch read, by part.
type book struct {
	// loc is the zone a date stored in UTC is read in (stamp.day): the
	// batch's, set before mapping.
	loc          *time.Location
	options      map[string]string // "Business/Company Name", string options only
	rootGUID     string
	commodities  map[cmdty]*commodity
	cmdtyOrder   []cmdty
	accounts     map[string]*account
	accountOrder []string
	balances     map[string]*big.Rat // account guid: sum of split quantities
	imbalances   map[cmdty]*big.Rat  // currency: what unbalanced transactions lack, summed
	imbalanceIDs map[cmdty]string    // currency: its Imbalance account, found or made
	taxTables    []*taxTable
	customers    []*contact
	vendors      []*contact
	jobs         map[string]*job
	invoices     []*invoice
	entries      []*entry
	lots         map[string]*big.Rat // lot guid: sum of its splits' quantities
	dueDates     map[string]stamp    // transaction guid: the invoice's due date
	lotOwners    map[string]string   // lot guid: the customer, vendor or job a payment lot belongs to
}

func newBook() *book {
	return &book{
		options: map[string]string{}, commodities: map[cmdty]*commodity{}, accounts: map[string]*account{},
		balances: map[string]*big.Rat{}, imbalances: map[cmdty]*big.Rat{}, imbalanceIDs: map[cmdty]string{}, jobs: map[string]*job{}, lots: map[string]*big.Rat{},
		dueDates: map[string]stamp{}, lotOwners: map[string]string{},
	}
}

// part is a piece of the book a data type needs.
type part uint

const (
	partMeta      part = 1 << iota // book options, commodities, accounts
	partBalances                   // split quantities summed per account
	partTaxTables                  // tax tables
	partCustomers                  // customers
	partVendors                    // vendors
	partInvoices                   // invoices, entries, jobs
	partLots                       // posted lots' balances, due dates (read from the transactions)
	partLotOwners                  // the owners of lots (payments on account)
	partTypes                      // each streamed transaction's type (trans-txn-type)
)

// txnFunc is handed each transaction of a book being read.
type txnFunc func(*book, *txn) error

// loader reads a book in one of GnuCash's formats.
type loader interface {
	// load reads the parts asked for. With onTxn set it streams every
	// transaction (template transactions of scheduled ones left out) to
	// it with the book read so far: the accounts are in it when the book
	// comes in GnuCash's order, accounts first. The *txn is reused after
	// onTxn returns. Each load of a loader reads the same version of the
	// book from its start.
	load(ctx context.Context, parts part, onTxn txnFunc) (*book, error)
	close() error
}

func (b *book) addCommodity(c *commodity) {
	if _, ok := b.commodities[c.ref]; !ok {
		b.cmdtyOrder = append(b.cmdtyOrder, c.ref)
	}
	b.commodities[c.ref] = c
}

func (b *book) addAccount(a *account) {
	if _, ok := b.accounts[a.guid]; !ok {
		b.accountOrder = append(b.accountOrder, a.guid)
	}
	b.accounts[a.guid] = a
}

// fraction is a commodity's smallest unit: the book's, else ISO 4217's for
// a currency, else a hundredth.
func (b *book) fraction(c cmdty) int64 {
	if cm, ok := b.commodities[c]; ok && cm.fraction > 0 {
		return cm.fraction
	}
	if c.isCurrency() {
		return isoFraction(c.id)
	}
	return 100
}

// imbalance is what t's split values lack to sum to zero, nil when they
// do. GnuCash puts it in an Imbalance-<currency> account when it opens a
// book; old books have such transactions (an opening balance of one split).
func (t *txn) imbalance() *big.Rat {
	sum := new(big.Rat)
	for _, sp := range t.splits {
		sum.Add(sum, sp.value)
	}
	if sum.Sign() == 0 {
		return nil
	}
	return sum.Neg(sum)
}

// addImbalance adds t's imbalance, if any, to the book's.
func (b *book) addImbalance(t *txn) {
	if r := t.imbalance(); r != nil {
		if s := b.imbalances[t.currency]; s != nil {
			s.Add(s, r)
		} else {
			b.imbalances[t.currency] = r
		}
	}
}

// imbalanceAccount is where GnuCash puts a currency's imbalances: the
// top-level account Imbalance-<currency> in it, made when the book has
// none (then its id is its name, and found reports false).
func (b *book) imbalanceAccount(cur cmdty) (id, name string, found bool) {
	name = "Imbalance-" + cur.id
	if id, ok := b.imbalanceIDs[cur]; ok {
		return id, name, id != name
	}
	id = name
	for _, g := range b.accountOrder {
		if a := b.accounts[g]; a.parent == b.rootGUID && a.name == name && a.cmdty == cur {
			id = g
			break
		}
	}
	b.imbalanceIDs[cur] = id
	return id, name, id != name
}

// suspense reports whether a is one of the accounts GnuCash makes at the
// top of the tree to hold what balances nothing: Imbalance-<currency> for
// unbalanced transactions, Orphan-<currency> for splits without an
// account. GnuCash makes them of type BANK, but no bank holds them.
func (b *book) suspense(a *account) bool {
	return a.parent == b.rootGUID && (a.name == "Imbalance-"+a.cmdty.id || a.name == "Orphan-"+a.cmdty.id)
}

// add adds r to the sum at key of m.
func add(m map[string]*big.Rat, key string, r *big.Rat) {
	if s, ok := m[key]; ok {
		s.Add(s, r)
		return
	}
	m[key] = new(big.Rat).Set(r)
}
