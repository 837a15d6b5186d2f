package gnucash

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go
)

// sqlLoader reads an SQLite book: the consistent copy Fetch took of it,
// in one read transaction per load, rows streamed. Columns are named,
// never taken by position: books made by different GnuCash versions order
// them differently.
type sqlLoader struct {
	db   *sql.DB
	copy string // the copy's path, removed on close
}

func (l *sqlLoader) close() error {
	err := l.db.Close()
	if l.copy == "" {
		return err
	}
	return errors.Join(err, os.Remove(l.copy))
}

// openSQLite opens path read-only: the driver must neither create a
// missing file nor write to the book.
func openSQLite(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", sqliteURI(abs, windowsPaths))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func (l *sqlLoader) load(ctx context.Context, parts part, onTxn txnFunc) (*book, error) {
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r := &sqlReader{tx: tx, ctx: ctx, book: newBook(), cmdtys: map[string]cmdty{}, template: map[string]bool{}}
	steps := []struct {
		need part
		read func() error
	}{
		{^part(0), r.roots},
		{^part(0), r.commodities},
		{partMeta, r.accounts},
		{partMeta, r.options},
		{partBalances, r.balances},
		{partTaxTables | partInvoices, r.taxTables},
		{partCustomers | partInvoices, func() error { return r.contacts("customers", true, &r.book.customers) }},
		{partVendors | partInvoices, func() error { return r.contacts("vendors", false, &r.book.vendors) }},
		{partInvoices, r.invoices},
		{partLots, r.posted},
		{partLotOwners, r.lotOwners},
	}
	for _, s := range steps {
		if parts&s.need != 0 {
			if err := s.read(); err != nil {
				return nil, err
			}
		}
	}
	if onTxn != nil {
		if err := r.transactions(onTxn, parts&partTypes != 0); err != nil {
			return nil, err
		}
	}
	return r.book, nil
}

type sqlReader struct {
	tx       *sql.Tx
	ctx      context.Context
	book     *book
	cmdtys   map[string]cmdty // commodity guid: its name
	template map[string]bool  // accounts of scheduled transactions' templates
}

// rows runs query and calls scan for each row, checking for cancellation.
func (r *sqlReader) rows(query string, scan func(*sql.Rows) error, args ...any) error {
	rows, err := r.tx.QueryContext(r.ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for n := 0; rows.Next(); n++ {
		if n%1024 == 1023 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (r *sqlReader) roots() error {
	var root, tmpl text
	err := r.tx.QueryRowContext(r.ctx, "SELECT root_account_guid, root_template_guid FROM books LIMIT 1").Scan(&root, &tmpl)
	if err == sql.ErrNoRows {
		return dataErrorf("the book has no row in its books table")
	}
	r.book.rootGUID = string(root)
	return err
}

func (r *sqlReader) commodities() error {
	return r.rows("SELECT guid, namespace, mnemonic, fullname, fraction FROM commodities", func(rows *sql.Rows) error {
		var guid, space, id, name text
		var fraction integer
		if err := rows.Scan(&guid, &space, &id, &name, &fraction); err != nil {
			return err
		}
		c := &commodity{ref: cmdty{string(space), string(id)}, name: string(name), fraction: int64(fraction)}
		r.cmdtys[string(guid)] = c.ref
		r.book.addCommodity(c)
		return nil
	})
}

// accounts keeps the accounts under the book's root; the others are the
// template accounts of scheduled transactions.
func (r *sqlReader) accounts() error {
	var all []*account
	err := r.rows(`SELECT guid, name, account_type, commodity_guid, commodity_scu, parent_guid, code,
		description, hidden, placeholder FROM accounts`, func(rows *sql.Rows) error {
		var guid, name, typ, cm, parent, code, desc text
		var scu, hidden, placeholder integer
		if err := rows.Scan(&guid, &name, &typ, &cm, &scu, &parent, &code, &desc, &hidden, &placeholder); err != nil {
			return err
		}
		all = append(all, &account{guid: string(guid), name: string(name), typ: string(typ), cmdty: r.cmdtys[string(cm)],
			scu: int64(scu), parent: string(parent), code: string(code), description: string(desc),
			hidden: hidden != 0, placeholder: placeholder != 0})
		if len(all) > maxKept {
			return dataErrorf("the book holds more than %d accounts", maxKept)
		}
		return nil
	})
	if err != nil {
		return err
	}
	parents := make(map[string]string, len(all))
	for _, a := range all {
		parents[a.guid] = a.parent
	}
	for _, a := range all {
		if underRoot(a.guid, r.book.rootGUID, parents) {
			r.book.addAccount(a)
		} else {
			r.template[a.guid] = true
		}
	}
	return nil
}

// underRoot reports whether guid is root or descends from it.
func underRoot(guid, root string, parents map[string]string) bool {
	for depth := 0; guid != "" && depth < 1000; depth++ {
		if guid == root {
			return true
		}
		guid = parents[guid]
	}
	return false
}

func (r *sqlReader) options() error {
	return r.rows(`SELECT name, string_val FROM slots WHERE name LIKE 'options/%' AND slot_type = 4 LIMIT ?`,
		func(rows *sql.Rows) error {
			var name, v text
			if err := rows.Scan(&name, &v); err != nil {
				return err
			}
			r.book.options[strings.TrimPrefix(string(name), "options/")] = string(v)
			return nil
		}, maxOptions)
}

// balances sums the splits' quantities per account, and the imbalances
// of transactions whose splits do not balance, as GnuCash's scrub would.
func (r *sqlReader) balances() error {
	return r.transactions(func(b *book, t *txn) error {
		for _, sp := range t.splits {
			add(b.balances, sp.account, sp.quantity)
		}
		b.addImbalance(t)
		return nil
	}, false)
}

func (r *sqlReader) taxTables() error {
	byGUID := map[string]*taxTable{}
	err := r.rows("SELECT guid, name, invisible, parent FROM taxtables", func(rows *sql.Rows) error {
		var guid, name, parent text
		var invisible integer
		if err := rows.Scan(&guid, &name, &invisible, &parent); err != nil {
			return err
		}
		t := &taxTable{guid: string(guid), name: string(name), invisible: invisible != 0, parent: string(parent)}
		byGUID[t.guid] = t
		r.book.taxTables = append(r.book.taxTables, t)
		return nil
	})
	if err != nil {
		return err
	}
	return r.rows("SELECT taxtable, account, amount_num, amount_denom, type FROM taxtable_entries ORDER BY id",
		func(rows *sql.Rows) error {
			var table, acct text
			var num, den, typ integer
			if err := rows.Scan(&table, &acct, &num, &den, &typ); err != nil {
				return err
			}
			amount, err := ratOf(int64(num), int64(den))
			if err != nil {
				return dataErrorf("tax table %s: amount %v", table, err)
			}
			if t := byGUID[string(table)]; t != nil {
				t.entries = append(t.entries, taxEntry{account: string(acct), amount: amount, percent: typ == 2})
			}
			return nil
		})
}

// contacts reads the customers or vendors table into list.
func (r *sqlReader) contacts(table string, ship bool, list *[]*contact) error {
	cols := "guid, id, name, notes, active, currency, addr_name, addr_addr1, addr_addr2, addr_addr3, addr_addr4, addr_phone, addr_fax, addr_email"
	if ship {
		cols += ", shipaddr_name, shipaddr_addr1, shipaddr_addr2, shipaddr_addr3, shipaddr_addr4, shipaddr_phone, shipaddr_fax, shipaddr_email"
	}
	return r.rows("SELECT "+cols+" FROM "+table, func(rows *sql.Rows) error {
		c := &contact{}
		var guid, id, name, notes, cur text
		var active integer
		var a, s [8]text
		dest := []any{&guid, &id, &name, &notes, &active, &cur}
		for i := range a {
			dest = append(dest, &a[i])
		}
		if ship {
			for i := range s {
				dest = append(dest, &s[i])
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		c.guid, c.id, c.name, c.notes, c.active = string(guid), string(id), string(name), string(notes), active != 0
		c.currency, c.addr, c.ship = r.cmdtys[string(cur)], sqlAddr(a), sqlAddr(s)
		if len(*list) >= maxKept {
			return dataErrorf("the book holds more than %d %s", maxKept, table)
		}
		*list = append(*list, c)
		return nil
	})
}

func sqlAddr(a [8]text) addr {
	return addr{name: string(a[0]), lines: [4]string{string(a[1]), string(a[2]), string(a[3]), string(a[4])},
		phone: string(a[5]), fax: string(a[6]), email: string(a[7])}
}

// SQLite's owner_type codes.
var sqlOwnerKinds = map[int64]ownerKind{2: ownerCustomer, 3: ownerJob, 4: ownerVendor, 5: ownerEmployee}

func (r *sqlReader) invoices() error {
	b := r.book
	err := r.rows("SELECT guid, id, name, owner_type, owner_guid FROM jobs", func(rows *sql.Rows) error {
		var guid, id, name, og text
		var ot integer
		if err := rows.Scan(&guid, &id, &name, &ot, &og); err != nil {
			return err
		}
		b.jobs[string(guid)] = &job{guid: string(guid), id: string(id), name: string(name),
			owner: owner{kind: sqlOwnerKinds[int64(ot)], guid: string(og)}}
		return nil
	})
	if err != nil {
		return err
	}
	credit := map[string]bool{}
	err = r.rows("SELECT obj_guid FROM slots WHERE name = 'credit-note' AND int64_val = 1", func(rows *sql.Rows) error {
		var g text
		err := rows.Scan(&g)
		credit[string(g)] = true
		return err
	})
	if err != nil {
		return err
	}
	err = r.rows(`SELECT guid, id, date_opened, date_posted, notes, currency, owner_type, owner_guid,
		post_txn, post_lot, post_acc FROM invoices`, func(rows *sql.Rows) error {
		var guid, id, opened, posted, notes, cur, og, ptxn, plot, pacc text
		var ot integer
		if err := rows.Scan(&guid, &id, &opened, &posted, &notes, &cur, &ot, &og, &ptxn, &plot, &pacc); err != nil {
			return err
		}
		inv := &invoice{guid: string(guid), id: string(id), notes: string(notes), currency: r.cmdtys[string(cur)],
			owner: owner{kind: sqlOwnerKinds[int64(ot)], guid: string(og)}, postTxn: string(ptxn),
			postLot: string(plot), postAcc: string(pacc), creditNote: credit[string(guid)]}
		var err error
		if inv.opened, err = parseSQLStamp(string(opened)); err != nil {
			return dataErrorf("invoice %s: date opened: %v", inv.id, err)
		}
		if inv.isPosted() {
			if inv.posted, err = parseSQLStamp(string(posted)); err != nil {
				return dataErrorf("invoice %s: date posted: %v", inv.id, err)
			}
		}
		b.invoices = append(b.invoices, inv)
		return nil
	})
	if err != nil {
		return err
	}
	return r.entries()
}

// lotOwners reads which customer, vendor or job each lot belongs to, where
// the lot says: its gncOwner slot is a frame, whose guid_val is the
// obj_guid of the frame's own slots, among them owner-guid.
func (r *sqlReader) lotOwners() error {
	return r.rows(`SELECT f.obj_guid, o.guid_val FROM slots f JOIN slots o ON o.obj_guid = f.guid_val
		WHERE f.name = 'gncOwner' AND o.name = 'gncOwner/owner-guid' AND o.guid_val <> ''`,
		func(rows *sql.Rows) error {
			var lot, owner text
			if err := rows.Scan(&lot, &owner); err != nil {
				return err
			}
			r.book.lotOwners[string(lot)] = string(owner)
			return nil
		})
}

// posted reads the balances of the posted invoices' lots and their due
// dates.
func (r *sqlReader) posted() error {
	b := r.book
	err := r.rows(`SELECT lot_guid, quantity_num, quantity_denom FROM splits
		WHERE lot_guid IN (SELECT post_lot FROM invoices WHERE post_lot <> '')`, func(rows *sql.Rows) error {
		var lot text
		var num, den integer
		if err := rows.Scan(&lot, &num, &den); err != nil {
			return err
		}
		q, err := ratOf(int64(num), int64(den))
		if err != nil {
			return dataErrorf("a split of lot %s: quantity %v", lot, err)
		}
		add(b.lots, string(lot), q)
		return nil
	})
	if err != nil {
		return err
	}
	return r.rows(`SELECT obj_guid, timespec_val FROM slots
		WHERE name = 'trans-date-due' AND obj_guid IN (SELECT post_txn FROM invoices WHERE post_txn <> '')`,
		func(rows *sql.Rows) error {
			var g, due text
			if err := rows.Scan(&g, &due); err != nil {
				return err
			}
			s, err := parseSQLStamp(string(due))
			if err != nil {
				return dataErrorf("transaction %s: due date: %v", g, err)
			}
			b.dueDates[string(g)] = s
			return nil
		})
}

func (r *sqlReader) entries() error {
	return r.rows(`SELECT guid, date, date_entered, description, action, quantity_num, quantity_denom,
		invoice, i_acct, i_price_num, i_price_denom, i_discount_num, i_discount_denom, i_disc_type, i_disc_how,
		i_taxable, i_taxincluded, i_taxtable, bill, b_acct, b_price_num, b_price_denom, b_taxable, b_taxincluded,
		b_taxtable FROM entries`, func(rows *sql.Rows) error {
		var guid, date, entered, desc, action, inv, iacct, dtype, dhow, itt, bill, bacct, btt text
		var qn, qd, ipn, ipd, idn, idd, itax, iinc, bpn, bpd, btax, binc integer
		if err := rows.Scan(&guid, &date, &entered, &desc, &action, &qn, &qd, &inv, &iacct, &ipn, &ipd, &idn, &idd,
			&dtype, &dhow, &itax, &iinc, &itt, &bill, &bacct, &bpn, &bpd, &btax, &binc, &btt); err != nil {
			return err
		}
		e := &entry{guid: string(guid), description: string(desc), action: string(action), invoice: string(inv), bill: string(bill)}
		var err error
		rat := func(what string, n, d integer) *big.Rat {
			if err != nil {
				return nil
			}
			var v *big.Rat
			if v, err = ratOf(int64(n), int64(d)); err != nil {
				err = dataErrorf("entry %s: %s %v", e.guid, what, err)
			}
			return v
		}
		e.qty = rat("quantity", qn, qd)
		e.i = entrySide{account: string(iacct), price: rat("price", ipn, ipd), discount: rat("discount", idn, idd),
			discPercent: string(dtype) != "VALUE", discHow: string(dhow), taxable: itax != 0, taxIncluded: iinc != 0,
			taxTable: string(itt)}
		e.b = entrySide{account: string(bacct), price: rat("price", bpn, bpd), taxable: btax != 0, taxIncluded: binc != 0,
			taxTable: string(btt)}
		if err != nil {
			return err
		}
		if e.date, err = parseSQLStamp(string(date)); err == nil {
			e.entered, err = parseSQLStamp(string(entered))
		}
		if err != nil {
			return dataErrorf("entry %s: date: %v", e.guid, err)
		}
		if len(r.book.entries) >= maxKept {
			return dataErrorf("the book holds more than %d invoice entries", maxKept)
		}
		r.book.entries = append(r.book.entries, e)
		return nil
	})
}

// transactions streams the transactions with their splits, ordered by
// transaction so that each one's splits come together. Transactions with a
// split in a template account belong to scheduled transactions and are
// left out. With types, each transaction's type is read too (payments need
// it; the journal, which reads every split, does not pay for the lookup).
// The parts of the book are read before: onTxn gets the book whole.
func (r *sqlReader) transactions(onTxn txnFunc, types bool) error {
	var t txn
	skip := false
	flush := func() error {
		if t.guid == "" || skip {
			return nil
		}
		return onTxn(r.book, &t)
	}
	typ := "''"
	if types {
		typ = "(SELECT string_val FROM slots y WHERE y.obj_guid = t.guid AND y.name = 'trans-txn-type' LIMIT 1)"
	}
	err := r.rows(`SELECT t.guid, t.currency_guid, t.post_date, t.enter_date, t.description,
		(SELECT gdate_val FROM slots d WHERE d.obj_guid = t.guid AND d.name = 'date-posted' LIMIT 1),
		`+typ+`,
		s.account_guid, s.memo, s.value_num, s.value_denom, s.quantity_num, s.quantity_denom, s.lot_guid
		FROM transactions t JOIN splits s ON s.tx_guid = t.guid ORDER BY t.guid`, func(rows *sql.Rows) error {
		var guid, cur, posted, entered, desc, gdate, typ, acct, memo, lot text
		var vn, vd, qn, qd integer
		if err := rows.Scan(&guid, &cur, &posted, &entered, &desc, &gdate, &typ, &acct, &memo, &vn, &vd, &qn, &qd, &lot); err != nil {
			return err
		}
		if string(guid) != t.guid {
			if err := flush(); err != nil {
				return err
			}
			var err error
			t = txn{guid: string(guid), currency: r.cmdtys[string(cur)], description: string(desc), typ: string(typ),
				splits: t.splits[:0]}
			skip = false
			if t.posted, err = parseSQLStamp(string(posted)); err == nil {
				t.entered, err = parseSQLStamp(string(entered))
			}
			if err == nil && gdate != "" {
				t.postedDate, err = parseGDate(string(gdate))
			}
			if err != nil {
				return dataErrorf("transaction %s: %v", t.guid, err)
			}
		}
		skip = skip || r.template[string(acct)]
		sp := split{account: string(acct), memo: string(memo), lot: string(lot)}
		var err error
		if sp.value, err = ratOf(int64(vn), int64(vd)); err == nil {
			sp.quantity, err = ratOf(int64(qn), int64(qd))
		}
		if err != nil {
			return dataErrorf("transaction %s: split %d: %v", t.guid, len(t.splits)+1, err)
		}
		if len(t.splits) >= maxObjectNodes/8 {
			return dataErrorf("transaction %s has more than %d splits", t.guid, maxObjectNodes/8)
		}
		t.splits = append(t.splits, sp)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// text is a text column; NULL reads as "".
type text string

func (t *text) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*t = ""
	case string:
		*t = text(x)
	case []byte:
		*t = text(x)
	case int64:
		*t = text(strconv.FormatInt(x, 10))
	default:
		return fmt.Errorf("a %T where text was expected", v)
	}
	return nil
}

// integer is an integer column; NULL reads as 0.
type integer int64

func (n *integer) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n = 0
	case int64:
		*n = integer(x)
	case float64:
		*n = integer(x)
	case []byte:
		return n.Scan(string(x))
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			*n = 0
			return nil
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q where a whole number was expected", truncate(s, 40))
		}
		*n = integer(i)
	default:
		return fmt.Errorf("a %T where a whole number was expected", v)
	}
	return nil
}
