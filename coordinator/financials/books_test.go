package financials

import (
	"bufio"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/source/gnucash"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
)

// sharedBooks is where the shared GnuCash books are.
const sharedBooks = "../../../shared/testdata/gnucash/"

// lendingBooks are one book in its two forms, written by GnuCash.
const lendingBooks = "../../agent/source/gnucash/testdata/"

// cache is a company's cached records, as the store serves them.
type cache map[dataset.DataType][][2]string

func (c cache) DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error) {
	out := map[dataset.DataType]store.TypeStatus{}
	for dt := range c {
		d := store.Dataset{ID: "ds-" + string(dt), Status: dataset.Complete}
		out[dt] = store.TypeStatus{Latest: d, LatestSuccessful: &d}
	}
	return out, nil
}

func (c cache) CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error {
	for _, r := range c[dataset.DataType(dt)] {
		if err := fn(r[0], []byte(r[1])); err != nil {
			return err
		}
	}
	return nil
}

// synced is what the GnuCash connector maps of a book's chart and
// journal, cached as the coordinator caches it (in id order).
func synced(t *testing.T, path string) cache {
	t.Helper()
	src, err := gnucash.OpenWith(path, gnucash.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	c := cache{}
	for _, dt := range []dataset.DataType{dataset.ChartOfAccounts, dataset.JournalEntries} {
		c[dt] = [][2]string{}
		b, err := src.Fetch(t.Context(), dt)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Records(t.Context(), func(r source.Record) error {
			raw, err := json.Marshal(r)
			c[dt] = append(c[dt], [2]string{r["id"].(string), string(raw)})
			return err
		})
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(c[dt], func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	}
	return c
}

// book is a GnuCash book as these tests read it on their own, from SQL or
// XML: accounts by GUID, splits with their day and exact value.
type book struct {
	accounts map[string]*bookAccount
	splits   []bookSplit
}

type bookAccount struct {
	guid, parent, typ string
	children          []*bookAccount
}

type bookSplit struct {
	account, day string // day: 2006-01-02
	value        *big.Rat
}

// class is what each GnuCash account type is on a statement.
var class = map[string]string{
	"ASSET": "asset", "BANK": "asset", "CASH": "asset", "STOCK": "asset", "MUTUAL": "asset", "RECEIVABLE": "asset",
	"CHECKING": "asset", "SAVINGS": "asset", "MONEYMRKT": "asset",
	"LIABILITY": "liability", "CREDIT": "liability", "PAYABLE": "liability", "CREDITLINE": "liability",
	"EQUITY": "equity", "TRADING": "equity", "INCOME": "income", "EXPENSE": "expense",
}

func (b *book) link() {
	for _, a := range b.accounts {
		if p := b.accounts[a.parent]; p != nil && p != a {
			p.children = append(p.children, a)
		}
	}
}

// subtree is a's GUID and its descendants', when all are of a's class.
func (b *book) subtree(a *bookAccount) (map[string]bool, bool) {
	out := map[string]bool{a.guid: true}
	for _, c := range a.children {
		sub, ok := b.subtree(c)
		if !ok || class[c.typ] != class[a.typ] {
			return nil, false
		}
		for g := range sub {
			out[g] = true
		}
	}
	return out, true
}

// sum adds up the splits of the accounts in set posted from from to to
// (days, inclusive; "" for no bound).
func (b *book) sum(set func(string) bool, from, to string) *big.Rat {
	s := new(big.Rat)
	for _, sp := range b.splits {
		if set(sp.account) && (from == "" || sp.day >= from) && sp.day <= to {
			s.Add(s, sp.value)
		}
	}
	return s
}

// sqlBook reads an SQLite book with SQL: the accounts under the book's
// root (scheduled transactions' templates are not) and their splits.
func sqlBook(t *testing.T, path string) *book {
	abs, _ := filepath.Abs(path)
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := &book{accounts: map[string]*bookAccount{}}
	rows, err := db.Query(`WITH RECURSIVE tree(guid) AS (SELECT root_account_guid FROM books
		UNION ALL SELECT a.guid FROM accounts a JOIN tree ON a.parent_guid = tree.guid)
		SELECT a.guid, coalesce(a.parent_guid, ''), a.account_type FROM accounts a JOIN tree USING (guid)`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		a := &bookAccount{}
		if err := rows.Scan(&a.guid, &a.parent, &a.typ); err != nil {
			t.Fatal(err)
		}
		b.accounts[a.guid] = a
	}
	rows.Close()
	// The day a transaction is posted on is its date-posted slot when it
	// has one (GnuCash's own date), else its post_date's.
	rows, err = db.Query(`SELECT s.account_guid, coalesce(d.gdate_val, t.post_date), s.value_num, s.value_denom
		FROM splits s JOIN transactions t ON t.guid = s.tx_guid
		LEFT JOIN slots d ON d.obj_guid = t.guid AND d.name = 'date-posted'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var acct, posted string
		var num, denom int64
		if err := rows.Scan(&acct, &posted, &num, &denom); err != nil {
			t.Fatal(err)
		}
		if b.accounts[acct] == nil {
			continue // a template's
		}
		day := posted
		if len(posted) == 14 || len(posted) == 8 { // the old form, 20130102230000, or a gdate
			day = posted[:4] + "-" + posted[4:6] + "-" + posted[6:8]
		}
		day = day[:10]
		b.splits = append(b.splits, bookSplit{acct, day, big.NewRat(num, denom)})
	}
	b.link()
	return b
}

// xmlBook reads an XML book (gzip or plain) with encoding/xml: the book's
// accounts and transactions, not the scheduled transactions' templates.
func xmlBook(t *testing.T, path string) *book {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); head[0] == 0x1f && head[1] == 0x8b {
		if r, err = gzip.NewReader(br); err != nil {
			t.Fatal(err)
		}
	}
	b := &book{accounts: map[string]*bookAccount{}}
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "template-transactions":
			if err := d.Skip(); err != nil {
				t.Fatal(err)
			}
		case "account":
			var a struct {
				ID     string `xml:"id"`
				Type   string `xml:"type"`
				Parent string `xml:"parent"`
			}
			if err := d.DecodeElement(&a, &se); err != nil {
				t.Fatal(err)
			}
			b.accounts[a.ID] = &bookAccount{guid: a.ID, parent: a.Parent, typ: a.Type}
		case "transaction":
			var tx struct {
				Posted string `xml:"date-posted>date"`
				Splits []struct {
					Value   string `xml:"value"`
					Account string `xml:"account"`
				} `xml:"splits>split"`
			}
			if err := d.DecodeElement(&tx, &se); err != nil {
				t.Fatal(err)
			}
			for _, s := range tx.Splits {
				v, ok := new(big.Rat).SetString(s.Value)
				if !ok {
					t.Fatalf("split value %q", s.Value)
				}
				b.splits = append(b.splits, bookSplit{s.Account, strings.TrimSpace(tx.Posted)[:10], v})
			}
		}
	}
	b.link()
	return b
}

// rat reads a statement's decimal exactly.
func rat(t *testing.T, d model.Decimal) *big.Rat {
	r, ok := new(big.Rat).SetString(d.String())
	if !ok {
		t.Fatalf("decimal %s", d)
	}
	return r
}

// byAccount collects the lines of the trees that stand for an account.
func byAccount(lines map[string]*Line, l *Line) {
	if l.AccountID != "" {
		lines[l.AccountID] = l
	}
	for _, c := range l.Items {
		byAccount(lines, c)
	}
}

// spanQuery covers every month the book has entries in, in at most
// MaxPeriodsToCompare periods, the newest ending with the last month.
func spanQuery(b *book) Query {
	first, last := "9999-99-99", "0000-00-00"
	for _, s := range b.splits {
		first, last = min(first, s.day), max(last, s.day)
	}
	if len(b.splits) == 0 {
		return Query{PeriodLength: 1, PeriodsToCompare: 2, StartMonth: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	f, _ := time.Parse("2006-01-02", first)
	l, _ := time.Parse("2006-01-02", last)
	months := monthIndex(l) - monthIndex(f) + 1
	length := (months + MaxPeriodsToCompare - 1) / MaxPeriodsToCompare
	return Query{PeriodLength: length, PeriodsToCompare: (months + length - 1) / length,
		StartMonth: time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, time.UTC)}
}

// TestStatementsMatchBooks computes both statements of every shared book
// (and the lending book in both forms) over every month it has entries in,
// and checks them against the book read on its own, by SQL or by
// encoding/xml: each account's balance at each period's end is the sum of
// the values of its splits and its children's up to that day, to the cent
// (what GnuCash's balance sheet shows), the balance sheet balances at
// every period's end, each income and expense account's line is what was
// posted to it and its children in the period, and each period's net
// profit is the income less the expenses posted in it; one period over
// the whole span has the sum of the monthly profits.
func TestStatementsMatchBooks(t *testing.T) {
	books := []struct {
		path string
		xml  bool
	}{
		{sharedBooks + "simple-sqlite.gnucash", false},
		{sharedBooks + "old-dates-sqlite.gnucash", false},
		{sharedBooks + "all-account-types-sqlite.gnucash", false},
		{sharedBooks + "invoices-sqlite.gnucash", false},
		{sharedBooks + "empty-sqlite.gnucash", false},
		{sharedBooks + "taxreport.gnucash", true},
		{sharedBooks + "business-de.gnucash.xml", true},
		{sharedBooks + "business-de-gzip.gnucash", true},
		{lendingBooks + "lending-sqlite.gnucash", false},
		{lendingBooks + "lending.gnucash", true},
	}
	for _, bk := range books {
		t.Run(filepath.Base(bk.path), func(t *testing.T) {
			t.Parallel()
			c := synced(t, bk.path)
			var b *book
			if bk.xml {
				b = xmlBook(t, bk.path)
			} else {
				b = sqlBook(t, bk.path)
			}
			q := spanQuery(b)
			bs, err := GetBalanceSheet(t.Context(), c, "co", q, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			pl, err := GetProfitAndLoss(t.Context(), c, "co", q, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			checkBalanceSheet(t, b, bs)
			checkProfitAndLoss(t, b, pl)
			checkWholeSpan(t, c, q, pl)
		})
	}
}

func checkBalanceSheet(t *testing.T, b *book, bs *BalanceSheet) {
	t.Helper()
	checked := 0
	for _, r := range bs.Reports {
		to := r.Date[:10]
		if !r.NetAssets.Equal(r.Equity.Value) {
			t.Errorf("%s: net assets %s, equity %s: the balance sheet does not balance", to, r.NetAssets, r.Equity.Value)
		}
		lines := map[string]*Line{}
		for _, part := range []*Line{r.Assets, r.Liabilities, r.Equity} {
			byAccount(lines, part)
		}
		for guid, a := range b.accounts {
			set, uniform := b.subtree(a)
			cl := class[a.typ]
			if !uniform || cl == "income" || cl == "expense" || cl == "" {
				continue
			}
			want := b.sum(func(g string) bool { return set[g] }, "", to)
			if cl != "asset" {
				want.Neg(want)
			}
			line := lines[guid]
			if line == nil {
				t.Errorf("%s: account %s (%s) is not on the balance sheet", to, guid, a.typ)
				continue
			}
			if got := rat(t, line.Value); got.Cmp(want) != 0 {
				t.Errorf("%s: %s (%s) is %s, GnuCash's balance is %s", to, line.Name, a.typ, got.FloatString(2), want.FloatString(2))
			}
			checked++
		}
		// Every asset is on it: the total is the sum of every asset split.
		assets := b.sum(func(g string) bool { return b.accounts[g] != nil && class[b.accounts[g].typ] == "asset" }, "", to)
		if got := rat(t, r.Assets.Value); got.Cmp(assets) != 0 && !strings.Contains(bookNames(r.Assets), "Imbalance") {
			t.Errorf("%s: assets %s, the book's asset splits add up to %s", to, got.FloatString(2), assets.FloatString(2))
		}
	}
	if len(b.splits) > 0 && checked == 0 {
		t.Error("no account's balance was checked")
	}
}

// bookNames lists the names of a tree's lines.
func bookNames(l *Line) string {
	s := l.Name
	for _, c := range l.Items {
		s += "," + bookNames(c)
	}
	return s
}

func checkProfitAndLoss(t *testing.T, b *book, pl *ProfitAndLoss) {
	t.Helper()
	pnl := func(g string) bool {
		a := b.accounts[g]
		return a != nil && (class[a.typ] == "income" || class[a.typ] == "expense")
	}
	for _, r := range pl.Reports {
		want := b.sum(pnl, r.FromDate[:10], r.ToDate[:10])
		want.Neg(want)
		if got := rat(t, r.NetProfit); got.Cmp(want) != 0 {
			t.Errorf("%s to %s: net profit %s, the book's income less expenses %s", r.FromDate[:10], r.ToDate[:10], got.FloatString(2), want.FloatString(2))
		}
		lines := map[string]*Line{}
		byAccount(lines, r.Income)
		byAccount(lines, r.Expenses)
		for guid, a := range b.accounts {
			set, uniform := b.subtree(a)
			cl := class[a.typ]
			if !uniform || (cl != "income" && cl != "expense") {
				continue
			}
			want := b.sum(func(g string) bool { return set[g] }, r.FromDate[:10], r.ToDate[:10])
			if cl == "income" {
				want.Neg(want)
			}
			if line := lines[guid]; line == nil || rat(t, line.Value).Cmp(want) != 0 {
				t.Errorf("%s to %s: %s account %s is %v, its splits in the period add up to %s", r.FromDate[:10], r.ToDate[:10], a.typ, guid, line, want.FloatString(2))
			}
		}
		if !r.Income.Value.Sub(r.Expenses.Value).Equal(r.NetProfit) {
			t.Errorf("%s: income %s less expenses %s is not net profit %s", r.FromDate[:10], r.Income.Value, r.Expenses.Value, r.NetProfit)
		}
	}
}

// checkWholeSpan asks for one period over the whole span: its profit is
// the sum of the periods'.
func checkWholeSpan(t *testing.T, c cache, q Query, pl *ProfitAndLoss) {
	t.Helper()
	months := q.PeriodLength * q.PeriodsToCompare
	if months > MaxPeriodLength {
		return
	}
	one, err := GetProfitAndLoss(t.Context(), c, "co", Query{PeriodLength: months, PeriodsToCompare: 1, StartMonth: q.StartMonth}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sum := model.Decimal{}
	for _, r := range pl.Reports {
		sum = sum.Add(r.NetProfit)
	}
	if !one.Reports[0].NetProfit.Equal(sum) {
		t.Errorf("net profit over %d months %s, the periods add up to %s", months, one.Reports[0].NetProfit, sum)
	}
}
