package gnucash

import (
	"database/sql"
	"fmt"
	"math/big"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// counts is how many records of each type a book gives.
type counts map[dataset.DataType]int

// figures is what a book holds, found by the test on its own: a regular
// expression scan of an XML book's text, SQL on an SQLite book. It shares
// no code with the connector.
type figures struct {
	counts   counts
	balances map[string]*big.Rat // account guid: its splits' quantities summed
	totals   map[string]*big.Rat // invoice or bill guid: its total
	due      map[string]*big.Rat // posted invoice or bill guid: what is left to pay
	paid     map[string]*big.Rat // customer or vendor guid: its payments' lines summed (what they paid)
	banks    map[string]bool     // the guids of the bank, cash and card accounts that are no placeholders
}

// The real books, with their counts as read off the files by hand.
var bookTests = []struct {
	file string
	want counts
}{
	// 156 accounts and the Imbalance-USD that GnuCash makes for its 11
	// opening balances of one split.
	{"taxreport.gnucash", counts{dataset.ChartOfAccounts: 157, dataset.JournalEntries: 75, dataset.BankAccounts: 11}},
	{"business-de.gnucash.xml", counts{dataset.ChartOfAccounts: 106, dataset.JournalEntries: 17, dataset.Customers: 3,
		dataset.Suppliers: 3, dataset.Invoices: 3, dataset.Bills: 5, dataset.TaxRates: 7,
		dataset.Payments: 2, dataset.BillPayments: 1, dataset.BankAccounts: 6}},
	{"business-de-gzip.gnucash", counts{dataset.ChartOfAccounts: 105, dataset.JournalEntries: 18, dataset.Customers: 3,
		dataset.Suppliers: 3, dataset.Invoices: 3, dataset.Bills: 5, dataset.TaxRates: 7,
		dataset.Payments: 2, dataset.BillPayments: 1, dataset.BankAccounts: 6}},
	{"invoices-sqlite.gnucash", counts{dataset.ChartOfAccounts: 63, dataset.Customers: 1, dataset.Suppliers: 3, dataset.Invoices: 1,
		dataset.BankAccounts: 4}},
	{"simple-sqlite.gnucash", counts{dataset.ChartOfAccounts: 6, dataset.JournalEntries: 5}},
	// Its Orphan-EUR (type BANK) is no bank account.
	{"old-dates-sqlite.gnucash", counts{dataset.ChartOfAccounts: 65, dataset.JournalEntries: 74, dataset.Customers: 13,
		dataset.BankAccounts: 4}},
	// Its Imbalance-EUR (type BANK) is no bank account.
	{"all-account-types-sqlite.gnucash", counts{dataset.ChartOfAccounts: 13, dataset.JournalEntries: 13, dataset.BankAccounts: 3}},
	{"empty-sqlite.gnucash", counts{}},
	// Made by GnuCash itself (testdata/make-lending.py): payments, credit
	// notes, their use, a payment on account, bank, cash and card.
	{"testdata/lending.gnucash", lendingCounts},
	{"testdata/lending-sqlite.gnucash", lendingCounts},
}

// lendingCounts are the records of the books testdata/make-lending.py
// writes: 14 accounts, 19 transactions (3 transfers, 8 postings, 6
// payments, 2 credit notes used), INV-1 to INV-5 and CN-1, B-1, B-2 and
// BCN-1.
var lendingCounts = counts{dataset.ChartOfAccounts: 14, dataset.JournalEntries: 19, dataset.Customers: 2,
	dataset.Suppliers: 2, dataset.Invoices: 5, dataset.Bills: 2, dataset.CreditNotes: 1, dataset.BillCreditNotes: 1,
	dataset.Payments: 5, dataset.BillPayments: 3, dataset.BankAccounts: 4}

func TestBooks(t *testing.T) {
	for _, tt := range bookTests {
		t.Run(tt.file, func(t *testing.T) {
			path := tt.file
			if !strings.HasPrefix(path, "testdata/") {
				path = books + path
			}
			var fig figures
			if strings.Contains(tt.file, "sqlite") {
				fig = sqlFigures(t, path)
			} else {
				fig = xmlFigures(t, path)
			}
			tt.want[dataset.Company] = 1
			fig.counts[dataset.Company] = 1
			src := open(t, path)
			if got := src.DataTypes(); len(got) != len(dataset.DataTypes) {
				t.Errorf("DataTypes() = %v, want every type", got)
			}
			recs := map[dataset.DataType][]source.Record{}
			for _, dt := range dataset.DataTypes {
				recs[dt] = mustRecords(t, src, dt)
				if got := len(recs[dt]); got != tt.want[dt] || got != fig.counts[dt] {
					t.Errorf("%s: %d records, want %d (the book scanned on its own: %d)", dt, got, tt.want[dt], fig.counts[dt])
				}
				checkIDs(t, dt, recs[dt])
			}
			checkBalances(t, recs[dataset.ChartOfAccounts], fig.balances)
			checkDocs(t, append(recs[dataset.Invoices], recs[dataset.Bills]...), fig)
			checkJournal(t, recs[dataset.JournalEntries])
			checkLending(t, recs, fig)
		})
	}
}

func checkIDs(t *testing.T, dt dataset.DataType, recs []source.Record) {
	seen := map[string]bool{}
	for _, r := range recs {
		id, _ := r["id"].(string)
		if id == "" || seen[id] {
			t.Errorf("%s: id %q empty or twice", dt, id)
		}
		seen[id] = true
	}
}

func checkBalances(t *testing.T, accounts []source.Record, want map[string]*big.Rat) {
	for _, a := range accounts {
		w := want[a["id"].(string)]
		if w == nil {
			w = new(big.Rat)
		}
		if got := num(t, a["currentBalance"]); got.Cmp(w) != 0 {
			t.Errorf("account %s (%s): currentBalance %s, want %s", a["id"], a["fullyQualifiedName"], a["currentBalance"], w.FloatString(4))
		}
	}
}

// checkDocs checks totals against the book's own figures, and that lines
// add up to them.
func checkDocs(t *testing.T, docs []source.Record, fig figures) {
	for _, d := range docs {
		id := d["id"].(string)
		total := num(t, d["totalAmount"])
		if w, ok := fig.totals[id]; ok && total.Cmp(w) != 0 {
			t.Errorf("%s %s: totalAmount %s, want %s", d["invoiceNumber"], d["reference"], total.FloatString(2), w.FloatString(2))
		}
		if w, ok := fig.due[id]; ok && num(t, d["amountDue"]).Cmp(w) != 0 {
			t.Errorf("%s %s: amountDue %s, want %s", d["invoiceNumber"], d["reference"], d["amountDue"], w.FloatString(2))
		}
		sub, tax := new(big.Rat), new(big.Rat)
		for _, li := range d["lineItems"].([]any) {
			l := li.(map[string]any)
			sub.Add(sub, num(t, l["subTotal"]))
			tax.Add(tax, num(t, l["taxAmount"]))
			if s := new(big.Rat).Add(num(t, l["subTotal"]), num(t, l["taxAmount"])); s.Cmp(num(t, l["totalAmount"])) != 0 {
				t.Errorf("%s: line %v: subTotal + taxAmount != totalAmount", id, l)
			}
		}
		taxField := "totalTaxAmount"
		if _, ok := d["taxAmount"]; ok {
			taxField = "taxAmount"
		}
		if sub.Cmp(num(t, d["subTotal"])) != 0 || tax.Cmp(num(t, d[taxField])) != 0 || total.Cmp(new(big.Rat).Add(sub, tax)) != 0 {
			t.Errorf("%s: lines add up to %s + %s, the document says %s + %s = %s", id,
				sub.FloatString(2), tax.FloatString(2), d["subTotal"], d[taxField], d["totalAmount"])
		}
	}
}

// checkJournal checks every entry balances: its lines sum to zero.
func checkJournal(t *testing.T, entries []source.Record) {
	for _, e := range entries {
		sum := new(big.Rat)
		for _, l := range e["journalLines"].([]any) {
			sum.Add(sum, num(t, l.(map[string]any)["netAmount"]))
		}
		if sum.Sign() != 0 {
			t.Errorf("journal entry %s does not balance: its lines sum to %s", e["id"], sum.FloatString(4))
		}
		if _, ok := e["postedOn"].(string); !ok {
			t.Errorf("journal entry %s has no postedOn", e["id"])
		}
	}
}

var (
	reCache   sync.Map
	reBlock   = func(tag string) *regexp.Regexp { return cachedRe(`(?s)<` + tag + `[ >].*?</` + tag + `>`) }
	reBetween = func(tag string) *regexp.Regexp { return cachedRe(`(?s)<` + tag + `(?: [^>]*)?>(.*?)</` + tag + `>`) }
)

func cachedRe(expr string) *regexp.Regexp {
	if re, ok := reCache.Load(expr); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(expr)
	reCache.Store(expr, re)
	return re
}

// field is the text of the first <tag> in s.
func field(s, tag string) string {
	if m := reBetween(tag).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// xmlFigures scans an XML book's text with regular expressions.
func xmlFigures(t *testing.T, path string) figures {
	s := xmlText(t, path)
	if i, j := strings.Index(s, "<gnc:template-transactions>"), strings.Index(s, "</gnc:template-transactions>"); i >= 0 && j > i {
		s = s[:i] + s[j:]
	}
	fig := figures{counts: counts{}, balances: map[string]*big.Rat{}, totals: map[string]*big.Rat{}, due: map[string]*big.Rat{}}
	for _, a := range reBlock("gnc:account").FindAllString(s, -1) {
		if field(a, "act:type") != "ROOT" {
			fig.counts[dataset.ChartOfAccounts]++
		}
	}
	lots := map[string]*big.Rat{}
	postValue := map[[2]string]*big.Rat{} // transaction, account: values summed
	sum := func(m map[string]*big.Rat, k string, r *big.Rat) {
		if m[k] == nil {
			m[k] = new(big.Rat)
		}
		m[k].Add(m[k], r)
	}
	for _, tx := range reBlock("gnc:transaction").FindAllString(s, -1) {
		fig.counts[dataset.JournalEntries]++
		imbalance := new(big.Rat)
		defer func() { // an unbalanced transaction's rest goes to Imbalance-<currency>
			if imbalance.Sign() != 0 {
				acct := "Imbalance-" + field(field(tx, "trn:currency"), "cmdty:id")
				if fig.balances[acct] == nil {
					fig.counts[dataset.ChartOfAccounts]++
				}
				sum(fig.balances, acct, imbalance.Neg(imbalance))
			}
		}()
		for _, sp := range reBlock("trn:split").FindAllString(tx, -1) {
			acct, q, v := field(sp, "split:account"), frac(t, field(sp, "split:quantity")), frac(t, field(sp, "split:value"))
			sum(fig.balances, acct, q)
			if lot := field(sp, "split:lot"); lot != "" {
				sum(lots, lot, q)
			}
			imbalance.Add(imbalance, v)
			k := [2]string{field(tx, "trn:id"), acct}
			if postValue[k] == nil {
				postValue[k] = new(big.Rat)
			}
			postValue[k].Add(postValue[k], v)
		}
	}
	fig.counts[dataset.Customers] = strings.Count(s, "<gnc:GncCustomer ")
	fig.counts[dataset.Suppliers] = strings.Count(s, "<gnc:GncVendor ")
	fig.counts[dataset.TaxRates] = strings.Count(s, "<gnc:GncTaxTable ")
	jobOwner := map[string]string{}
	for _, j := range reBlock("gnc:GncJob").FindAllString(s, -1) {
		jobOwner[field(j, "job:guid")] = field(j, "owner:type")
	}
	for _, inv := range reBlock("gnc:GncInvoice").FindAllString(s, -1) {
		kind := field(inv, "owner:type")
		if kind == "gncJob" {
			kind = jobOwner[field(inv, "owner:id")]
		}
		guid := field(inv, "invoice:guid")
		credit := reCreditNote.MatchString(inv)
		switch {
		case kind == "gncCustomer" && credit:
			fig.counts[dataset.CreditNotes]++
		case kind == "gncVendor" && credit:
			fig.counts[dataset.BillCreditNotes]++
		case kind == "gncCustomer":
			fig.counts[dataset.Invoices]++
		case kind == "gncVendor":
			fig.counts[dataset.Bills]++
		default:
			continue
		}
		if txn := field(inv, "invoice:posttxn"); txn != "" {
			v := postValue[[2]string{txn, field(inv, "invoice:postacc")}]
			fig.totals[guid] = new(big.Rat).Abs(v)
			due := new(big.Rat).Set(lots[field(inv, "invoice:postlot")])
			if kind == "gncVendor" {
				due.Neg(due)
			}
			fig.due[guid] = due
		}
	}
	xmlLending(t, s, &fig)
	return fig
}

// sqlFigures asks an SQLite book with SQL.
func sqlFigures(t *testing.T, path string) figures {
	abs, _ := filepath.Abs(path)
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	one := func(query string) int {
		var n int
		if err := db.QueryRow(query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	const tree = `WITH RECURSIVE tree(guid) AS (SELECT root_account_guid FROM books
		UNION ALL SELECT a.guid FROM accounts a JOIN tree ON a.parent_guid = tree.guid) `
	const docs = `SELECT count(*) FROM invoices i LEFT JOIN jobs j ON i.owner_type = 3 AND j.guid = i.owner_guid
		WHERE (i.owner_type = %[1]d OR j.owner_type = %[1]d) AND %[2]s EXISTS (SELECT 1 FROM slots c
		WHERE c.obj_guid = i.guid AND c.name = 'credit-note' AND c.int64_val = 1)`
	fig := figures{counts: counts{
		dataset.ChartOfAccounts: one(tree + "SELECT count(*) - 1 FROM tree"),
		dataset.JournalEntries: one(tree + `SELECT count(*) FROM transactions t
			WHERE EXISTS (SELECT 1 FROM splits s WHERE s.tx_guid = t.guid)
			AND NOT EXISTS (SELECT 1 FROM splits s WHERE s.tx_guid = t.guid AND s.account_guid NOT IN (SELECT guid FROM tree))`),
		dataset.Customers:       one("SELECT count(*) FROM customers"),
		dataset.Suppliers:       one("SELECT count(*) FROM vendors"),
		dataset.TaxRates:        one("SELECT count(*) FROM taxtables"),
		dataset.Invoices:        one(fmt.Sprintf(docs, 2, "NOT")),
		dataset.Bills:           one(fmt.Sprintf(docs, 4, "NOT")),
		dataset.CreditNotes:     one(fmt.Sprintf(docs, 2, "")),
		dataset.BillCreditNotes: one(fmt.Sprintf(docs, 4, "")),
	}, balances: map[string]*big.Rat{}, totals: map[string]*big.Rat{}}
	sqlLending(t, db, tree, &fig)
	rows, err := db.Query("SELECT account_guid, quantity_num || '/' || quantity_denom FROM splits")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var acct, q string
		rows.Scan(&acct, &q)
		if fig.balances[acct] == nil {
			fig.balances[acct] = new(big.Rat)
		}
		fig.balances[acct].Add(fig.balances[acct], frac(t, q))
	}
	rows.Close()
	// Invoice totals from the entries: quantity × price, rounded to cents.
	// The books' entries have no tax or discount, which this simple sum
	// relies on.
	if n := one(`SELECT count(*) FROM entries WHERE coalesce(invoice, '') <> '' AND (i_taxable = 1 OR i_discount_num <> 0)
		OR coalesce(bill, '') <> '' AND b_taxable = 1`); n != 0 {
		t.Fatalf("%d entries have taxes or discounts: the test's sum does not know them", n)
	}
	rows, err = db.Query(`SELECT coalesce(nullif(invoice, ''), bill), quantity_num || '/' || quantity_denom,
		CASE WHEN invoice <> '' THEN i_price_num || '/' || i_price_denom ELSE b_price_num || '/' || b_price_denom END FROM entries`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var doc, q, p string
		rows.Scan(&doc, &q, &p)
		line, _ := new(big.Rat).SetString(new(big.Rat).Mul(frac(t, q), frac(t, p)).FloatString(2))
		if fig.totals[doc] == nil {
			fig.totals[doc] = new(big.Rat)
		}
		fig.totals[doc].Add(fig.totals[doc], line)
	}
	rows.Close()
	return fig
}
