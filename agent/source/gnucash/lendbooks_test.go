package gnucash

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// The test's own reading of payments, credit notes and bank accounts, for
// TestBooks: it shares no code with the connector.

var (
	reCreditNote = regexp.MustCompile(`credit-note</slot:key>\s*<slot:value type="integer">1<`)
	reTxnType    = regexp.MustCompile(`trans-txn-type</slot:key>\s*<slot:value type="string">([PL])<`)
	reLotOwner   = regexp.MustCompile(`(?s)gncOwner</slot:key>.*?owner-guid</slot:key>\s*<slot:value type="guid">([0-9a-f]+)<`)
	rePlacehold  = regexp.MustCompile(`placeholder</slot:key>\s*<slot:value type="string">true<`)
)

// bankKinds are GnuCash's account types of bank, cash and card accounts.
var bankKinds = map[string]bool{"BANK": true, "CASH": true, "CREDIT": true, "CHECKING": true, "SAVINGS": true, "MONEYMRKT": true}

// xmlLending adds to fig what an XML book's text says of payments (what
// each customer and vendor paid, by the lots of the receivable and payable
// splits of its payment and lot-link transactions) and bank accounts.
func xmlLending(t *testing.T, s string, fig *figures) {
	fig.paid, fig.banks = map[string]*big.Rat{}, map[string]bool{}
	kind := map[string]string{}  // account guid: type
	owner := map[string]string{} // lot guid: its customer or vendor
	for _, a := range reBlock("gnc:account").FindAllString(s, -1) {
		g, typ := field(a, "act:id"), field(a, "act:type")
		kind[g] = typ
		if bankKinds[typ] && !rePlacehold.MatchString(field(a, "act:slots")) && !xmlSuspense(s, a) {
			fig.banks[g] = true
			fig.counts[dataset.BankAccounts]++
		}
		for _, l := range reBlock("gnc:lot").FindAllString(a, -1) {
			if m := reLotOwner.FindStringSubmatch(l); m != nil {
				owner[field(l, "lot:id")] = m[1]
			}
		}
	}
	jobOwner := map[string]string{}
	for _, j := range reBlock("gnc:GncJob").FindAllString(s, -1) {
		jobOwner[field(j, "job:guid")] = field(field(j, "job:owner"), "owner:id")
	}
	for _, inv := range reBlock("gnc:GncInvoice").FindAllString(s, -1) {
		o := field(field(inv, "invoice:owner"), "owner:id")
		if j, ok := jobOwner[o]; ok {
			o = j
		}
		owner[field(inv, "invoice:postlot")] = o
	}
	for _, tx := range reBlock("gnc:transaction").FindAllString(s, -1) {
		if !reTxnType.MatchString(tx) {
			continue
		}
		sides := map[string]bool{}
		for _, sp := range reBlock("trn:split").FindAllString(tx, -1) {
			v := frac(t, field(sp, "split:value"))
			switch kind[field(sp, "split:account")] {
			case "RECEIVABLE":
				v.Neg(v)
			case "PAYABLE":
			default:
				continue
			}
			sides[kind[field(sp, "split:account")]] = true
			addRat(fig.paid, owner[field(sp, "split:lot")], v)
		}
		if sides["RECEIVABLE"] {
			fig.counts[dataset.Payments]++
		}
		if sides["PAYABLE"] {
			fig.counts[dataset.BillPayments]++
		}
	}
}

// xmlSuspense reports whether the account block a of the book s is one of
// the Imbalance-<currency> or Orphan-<currency> accounts GnuCash makes at
// the top of the tree (of type BANK, but no bank account).
func xmlSuspense(s, a string) bool {
	root := ""
	for _, r := range reBlock("gnc:account").FindAllString(s, -1) {
		if field(r, "act:type") == "ROOT" {
			root = field(r, "act:id")
			break
		}
	}
	cur, name := field(field(a, "act:commodity"), "cmdty:id"), field(a, "act:name")
	return field(a, "act:parent") == root && (name == "Imbalance-"+cur || name == "Orphan-"+cur)
}

// sqlLending adds the same to fig with SQL on an SQLite book.
func sqlLending(t *testing.T, db *sql.DB, tree string, fig *figures) {
	fig.paid, fig.banks = map[string]*big.Rat{}, map[string]bool{}
	kinds := "'BANK', 'CASH', 'CREDIT', 'CHECKING', 'SAVINGS', 'MONEYMRKT'"
	// Not the Imbalance and Orphan accounts GnuCash makes at the top.
	eachRow(t, db, tree+`SELECT guid FROM accounts WHERE guid IN (SELECT guid FROM tree) AND placeholder = 0
		AND account_type IN (`+kinds+`) AND NOT ((name IN (SELECT 'Imbalance-' || mnemonic FROM commodities WHERE guid = commodity_guid)
		OR name IN (SELECT 'Orphan-' || mnemonic FROM commodities WHERE guid = commodity_guid)) AND parent_guid IN (SELECT guid FROM accounts WHERE account_type = 'ROOT'))`, func(v []string) {
		fig.banks[v[0]] = true
		fig.counts[dataset.BankAccounts]++
	})
	const payments = `FROM transactions t JOIN slots y ON y.obj_guid = t.guid AND y.name = 'trans-txn-type'
		AND y.string_val IN ('P', 'L') JOIN splits s ON s.tx_guid = t.guid JOIN accounts a ON a.guid = s.account_guid`
	for side, dt := range map[string]dataset.DataType{"RECEIVABLE": dataset.Payments, "PAYABLE": dataset.BillPayments} {
		eachRow(t, db, `SELECT count(DISTINCT t.guid) `+payments+` WHERE a.account_type = '`+side+`'`, func(v []string) {
			fig.counts[dt] = int(frac(t, v[0]+"/1").Num().Int64())
		})
	}
	eachRow(t, db, `SELECT a.account_type, s.value_num || '/' || s.value_denom,
		coalesce(j.owner_guid, i.owner_guid, o.guid_val, '') `+payments+`
		LEFT JOIN invoices i ON i.post_lot = s.lot_guid
		LEFT JOIN jobs j ON i.owner_type = 3 AND j.guid = i.owner_guid
		LEFT JOIN slots f ON f.obj_guid = s.lot_guid AND f.name = 'gncOwner'
		LEFT JOIN slots o ON o.obj_guid = f.guid_val AND o.name = 'gncOwner/owner-guid'
		WHERE a.account_type IN ('RECEIVABLE', 'PAYABLE')`, func(v []string) {
		amount := frac(t, v[1])
		if v[0] == "RECEIVABLE" {
			amount.Neg(amount)
		}
		addRat(fig.paid, v[2], amount)
	})
}

func eachRow(t *testing.T, db *sql.DB, query string, f func([]string)) {
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		v := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		f(v)
	}
}

func addRat(m map[string]*big.Rat, k string, r *big.Rat) {
	if m[k] == nil {
		m[k] = new(big.Rat)
	}
	m[k].Add(m[k], r)
}

// checkLending checks the payments against what each customer and vendor
// paid by the book's own figures, that each payment's lines add up to it
// and each link offsets its line, that every link points at a document of
// the book, the credit notes' totals, and the bank accounts and their
// balances.
func checkLending(t *testing.T, recs map[dataset.DataType][]source.Record, fig figures) {
	paid := map[string]*big.Rat{}
	docs := map[string]map[string]bool{}
	for _, dt := range []dataset.DataType{dataset.Invoices, dataset.Bills, dataset.CreditNotes, dataset.BillCreditNotes,
		dataset.Customers, dataset.Suppliers} {
		docs[string(dt)] = map[string]bool{}
		for _, r := range recs[dt] {
			docs[string(dt)][r["id"].(string)] = true
		}
	}
	targets := map[string]map[string]string{
		"payments":     {"Invoice": "invoices", "CreditNote": "creditNotes", "PaymentOnAccount": "customers"},
		"billPayments": {"Bill": "bills", "CreditNote": "billCreditNotes", "PaymentOnAccount": "suppliers"},
	}
	for _, dt := range []dataset.DataType{dataset.Payments, dataset.BillPayments} {
		party := map[dataset.DataType]string{dataset.Payments: "customerRef", dataset.BillPayments: "supplierRef"}[dt]
		for _, p := range recs[dt] {
			sum := new(big.Rat)
			for _, li := range p["lines"].([]any) {
				l := li.(map[string]any)
				amount := num(t, l["amount"])
				sum.Add(sum, amount)
				for _, lk := range l["links"].([]any) {
					link := lk.(map[string]any)
					amount.Add(amount, num(t, link["amount"]))
					if to := targets[string(dt)][link["type"].(string)]; !docs[to][link["id"].(string)] {
						t.Errorf("%s %s: link %v points at no record of %q", dt, p["id"], link, to)
					}
				}
				if amount.Sign() != 0 {
					t.Errorf("%s %s: a line's links do not offset it: %v", dt, p["id"], l)
				}
			}
			if sum.Cmp(num(t, p["totalAmount"])) != 0 {
				t.Errorf("%s %s: lines add up to %s, totalAmount %s", dt, p["id"], sum.FloatString(2), p["totalAmount"])
			}
			addRat(paid, p[party].(map[string]any)["id"].(string), sum)
		}
	}
	for k, w := range fig.paid {
		if g := paid[k]; g == nil || g.Cmp(w) != 0 {
			t.Errorf("customer or vendor %s paid %v by the payments, %s by the book", k, g, w.FloatString(2))
		}
	}
	if len(paid) != len(fig.paid) {
		t.Errorf("payments of %d customers and vendors, the book has %d", len(paid), len(fig.paid))
	}
	for _, cn := range append(recs[dataset.CreditNotes], recs[dataset.BillCreditNotes]...) {
		// The test's SQL sums the entries, which a credit note keeps negated.
		if w, ok := fig.totals[cn["id"].(string)]; ok && num(t, cn["totalAmount"]).Cmp(new(big.Rat).Abs(w)) != 0 {
			t.Errorf("credit note %s: totalAmount %s, want %s", cn["id"], cn["totalAmount"], w.FloatString(2))
		}
		if w, ok := fig.due[cn["id"].(string)]; ok && num(t, cn["remainingCredit"]).Cmp(new(big.Rat).Neg(w)) != 0 {
			t.Errorf("credit note %s: remainingCredit %s, want %s", cn["id"], cn["remainingCredit"], new(big.Rat).Neg(w).FloatString(2))
		}
	}
	for _, b := range recs[dataset.BankAccounts] {
		id := b["id"].(string)
		w := fig.balances[id]
		if w == nil {
			w = new(big.Rat)
		}
		if !fig.banks[id] || num(t, b["balance"]).Cmp(w) != 0 {
			t.Errorf("bank account %s (%s): balance %s, want %s (a bank account of the book: %v)", id, b["accountName"],
				b["balance"], w.FloatString(2), fig.banks[id])
		}
	}
}

// TestLendingFormsAgree: the XML and SQLite forms of the book GnuCash
// wrote (testdata/make-lending.py) give the same records of every type.
func TestLendingFormsAgree(t *testing.T) {
	x, s := open(t, "testdata/lending.gnucash"), open(t, "testdata/lending-sqlite.gnucash")
	for _, dt := range dataset.DataTypes {
		if dt == dataset.Company {
			continue // the book has no name, so the company is named after the file
		}
		xr, sr := byID(mustRecords(t, x, dt)), byID(mustRecords(t, s, dt))
		if len(xr) != len(sr) {
			t.Errorf("%s: %d records from XML, %d from SQLite", dt, len(xr), len(sr))
		}
		for id, r := range xr {
			if dt == dataset.JournalEntries { // a book keeps a transaction's splits in no set order
				for _, e := range []source.Record{r, sr[id]} {
					if lines, ok := e["journalLines"].([]any); ok {
						slices.SortFunc(lines, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
					}
				}
			}
			if !sameJSON(r, sr[id]) {
				t.Errorf("%s %s:\nXML    %v\nSQLite %v", dt, id, r, sr[id])
			}
		}
	}
}

// TestLendingBook checks what GnuCash did in the book, as the script says
// it: a payment on account, a credit note set against an invoice, a bill
// paid by card.
func TestLendingBook(t *testing.T) {
	src := open(t, "testdata/lending-sqlite.gnucash")
	byNumber := func(dt dataset.DataType, field string) map[string]source.Record {
		m := map[string]source.Record{}
		for _, r := range mustRecords(t, src, dt) {
			m[r[field].(string)] = r
		}
		return m
	}
	inv := byNumber(dataset.Invoices, "invoiceNumber")
	cn := byNumber(dataset.CreditNotes, "creditNoteNumber")["CN-1"]
	bcn := byNumber(dataset.BillCreditNotes, "billCreditNoteNumber")["BCN-1"]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"INV-2 status (paid 170.00 and CN-1's 30.00)", inv["INV-2"]["status"], "Paid"},
		{"INV-4 status", inv["INV-4"]["status"], "Paid"},
		{"INV-5 status", inv["INV-5"]["status"], "Draft"},
		{"CN-1 status", cn["status"], "Paid"},
		{"CN-1 remainingCredit", cn["remainingCredit"].(json.Number).String(), "0.00"},
		{"CN-1 totalAmount", cn["totalAmount"].(json.Number).String(), "30.00"},
		{"BCN-1 totalAmount", bcn["totalAmount"].(json.Number).String(), "12.00"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	var onAccount, offset, card int
	for _, p := range mustRecords(t, src, dataset.Payments) {
		for _, l := range p["lines"].([]any) {
			link := l.(map[string]any)["links"].([]any)[0].(map[string]any)
			if link["type"] == "PaymentOnAccount" && link["amount"].(json.Number) == "-50.00" &&
				link["id"] == p["customerRef"].(map[string]any)["id"] && p["totalAmount"].(json.Number) == "350.00" {
				onAccount++
			}
			if link["type"] == "CreditNote" && link["id"] == cn["id"] && p["totalAmount"].(json.Number) == "0.00" && p["accountRef"] == nil {
				offset++
			}
		}
	}
	for _, p := range mustRecords(t, src, dataset.BillPayments) {
		if a, _ := p["accountRef"].(map[string]any); a["name"] == "Credit Card" && p["totalAmount"].(json.Number) == "800.00" {
			card++
		}
	}
	if onAccount != 1 || offset != 1 || card != 1 {
		t.Errorf("%d payments on account of 50.00, %d uses of CN-1, %d bills paid by card; want one each", onAccount, offset, card)
	}
}
