package aged_test

import (
	"bytes"
	"compress/gzip"
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

	"github.com/ferry-sync/ferry/agent/source/gnucash"
	"github.com/ferry-sync/ferry/coordinator/aged"
	"github.com/ferry-sync/ferry/shared/dataset"

	_ "modernc.org/sqlite"
)

const (
	sharedBooks = "../../../shared/testdata/gnucash/"
	lendBooks   = "../../agent/source/gnucash/testdata/"
)

// The test's own reading of a book's receivable and payable accounts: the
// splits in them, with their day, currency and value, from SQL on an SQLite
// book or encoding/xml on an XML one. It shares no code with the connector.

// split is one split in a receivable or payable account.
type split struct {
	payable  bool
	day      time.Time
	currency string
	value    *big.Rat
	inLot    bool // in a lot: GnuCash's business features (an invoice, a payment) put it there
}

// sqlSplits reads an SQLite book's receivable and payable splits.
func sqlSplits(t *testing.T, path string) []split {
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT a.account_type, t.post_date, c.mnemonic, s.value_num, s.value_denom, s.lot_guid IS NOT NULL
		FROM splits s JOIN accounts a ON a.guid = s.account_guid JOIN transactions t ON t.guid = s.tx_guid
		JOIN commodities c ON c.guid = a.commodity_guid WHERE a.account_type IN ('RECEIVABLE', 'PAYABLE')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []split
	for rows.Next() {
		var typ, posted, cur string
		var num, denom int64
		var inLot bool
		if err := rows.Scan(&typ, &posted, &cur, &num, &denom, &inLot); err != nil {
			t.Fatal(err)
		}
		d, err := time.Parse("2006-01-02", posted[:10])
		if err != nil {
			d, err = time.Parse("20060102", posted[:8])
		}
		if err != nil {
			t.Fatalf("post_date %q: %v", posted, err)
		}
		out = append(out, split{typ == "PAYABLE", d, cur, big.NewRat(num, denom), inLot})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// xmlSplits reads an XML book's (plain or gzip) receivable and payable
// splits.
func xmlSplits(t *testing.T, path string) []split {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	var book struct {
		Accounts []struct {
			ID        string `xml:"id"`
			Type      string `xml:"type"`
			Commodity string `xml:"commodity>id"`
		} `xml:"book>account"`
		Transactions []struct {
			Posted string `xml:"date-posted>date"`
			Splits []struct {
				Value   string `xml:"value"`
				Account string `xml:"account"`
				Lot     string `xml:"lot"`
			} `xml:"splits>split"`
		} `xml:"book>transaction"`
	}
	if err := xml.Unmarshal(raw, &book); err != nil {
		t.Fatal(err)
	}
	kind, cur := map[string]string{}, map[string]string{}
	for _, a := range book.Accounts {
		kind[a.ID], cur[a.ID] = a.Type, a.Commodity
	}
	var out []split
	for _, tx := range book.Transactions {
		posted, err := time.Parse("2006-01-02 15:04:05 -0700", strings.TrimSpace(tx.Posted))
		if err != nil {
			t.Fatalf("date posted %q: %v", tx.Posted, err)
		}
		day := time.Date(posted.Year(), posted.Month(), posted.Day(), 0, 0, 0, 0, time.UTC)
		for _, sp := range tx.Splits {
			typ := kind[strings.TrimSpace(sp.Account)]
			if typ != "RECEIVABLE" && typ != "PAYABLE" {
				continue
			}
			v, ok := new(big.Rat).SetString(strings.TrimSpace(sp.Value))
			if !ok {
				t.Fatalf("split value %q", sp.Value)
			}
			out = append(out, split{typ == "PAYABLE", day, cur[strings.TrimSpace(sp.Account)], v, sp.Lot != ""})
		}
	}
	return out
}

// balances are the receivable (or payable, negated: what is owed) accounts'
// balances by currency before date, of the splits in lots.
func balances(splits []split, payable bool, date time.Time) map[string]*big.Rat {
	out := map[string]*big.Rat{}
	for _, s := range splits {
		if s.payable != payable || !s.inLot || !s.day.Before(date) {
			continue
		}
		if out[s.currency] == nil {
			out[s.currency] = new(big.Rat)
		}
		v := new(big.Rat).Set(s.value)
		if payable {
			v.Neg(v)
		}
		out[s.currency].Add(out[s.currency], v)
	}
	for c, v := range out {
		if v.Sign() == 0 {
			delete(out, c)
		}
	}
	return out
}

// bookRecords maps a book's records of the types the reports read, as
// JSON, with dates read in UTC.
func bookRecords(t *testing.T, path string) aged.Records {
	src, err := gnucash.OpenWith(path, gnucash.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	recs := map[dataset.DataType][][]byte{}
	for _, k := range []aged.Kind{aged.Debtors, aged.Creditors} {
		for _, dt := range append(k.Required(), k.Contacts) {
			b, err := src.Fetch(t.Context(), dt)
			if err != nil {
				t.Fatalf("%s: fetch %s: %v", path, dt, err)
			}
			err = b.Records(t.Context(), func(r map[string]any) error {
				raw, err := json.Marshal(r)
				recs[dt] = append(recs[dt], raw)
				return err
			})
			b.Close()
			if err != nil {
				t.Fatalf("%s: %s: %v", path, dt, err)
			}
		}
	}
	return func(dt dataset.DataType, fn func([]byte) error) error {
		for _, r := range recs[dt] {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// reportTotals adds up a report's amounts by currency, and checks each
// period's amount is the sum of its details.
func reportTotals(t *testing.T, rep aged.Report) map[string]*big.Rat {
	t.Helper()
	var rows [][]aged.CurrencyOutstanding
	switch d := rep.Data.(type) {
	case []aged.Debtor:
		for _, r := range d {
			rows = append(rows, r.AgedCurrencyOutstanding)
		}
	case []aged.Creditor:
		for _, r := range d {
			rows = append(rows, r.AgedCurrencyOutstanding)
		}
	}
	out := map[string]*big.Rat{}
	for _, row := range rows {
		for _, c := range row {
			for _, a := range c.AgedOutstandingAmounts {
				sum := new(big.Rat)
				for _, d := range a.Details {
					sum.Add(sum, rat(t, d.Amount.String()))
				}
				if got := rat(t, a.Amount.String()); got.Cmp(sum) != 0 {
					t.Errorf("period %s–%s: amount %s, details add up to %s", a.FromDate, a.ToDate, got.FloatString(2), sum.FloatString(2))
				}
				if out[c.Currency] == nil {
					out[c.Currency] = new(big.Rat)
				}
				out[c.Currency].Add(out[c.Currency], sum)
			}
		}
	}
	for c, v := range out {
		if v.Sign() == 0 {
			delete(out, c)
		}
	}
	return out
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a number: %q", s)
	}
	return r
}

// reportDates are the days to report on: every day a receivable or payable
// split was posted, the day after each, and one before and one after all.
func reportDates(splits []split) []time.Time {
	dates := []time.Time{time.Date(1901, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, s := range splits {
		dates = append(dates, s.day, s.day.AddDate(0, 0, 1))
	}
	slices.SortFunc(dates, time.Time.Compare)
	return slices.Compact(dates)
}

// TestBooksAgedTotalsAreAccountBalances reports on every shared book and
// the lending books, on every day their receivable and payable accounts
// changed and the day after: each report adds up, by currency, to the
// accounts' balance before that day, as the test's own reading of the book
// (SQL, encoding/xml) finds it.
func TestBooksAgedTotalsAreAccountBalances(t *testing.T) {
	books, err := filepath.Glob(sharedBooks + "*.gnucash*")
	if err != nil || len(books) < 8 {
		t.Fatalf("shared books: %v, %v", books, err)
	}
	books = append(books, lendBooks+"lending-sqlite.gnucash", lendBooks+"lending.gnucash")
	checked := 0
	for _, path := range books {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var splits []split
			if strings.Contains(path, "sqlite") {
				splits = sqlSplits(t, path)
			} else {
				splits = xmlSplits(t, path)
			}
			records := bookRecords(t, path)
			for _, date := range reportDates(splits) {
				for _, k := range []aged.Kind{aged.Debtors, aged.Creditors} {
					p := aged.Params{ReportDate: date, Periods: 4, PeriodLengthDays: 30}
					rep, err := aged.Build(k, p, records, date)
					if err != nil {
						t.Fatal(err)
					}
					got, want := reportTotals(t, rep), balances(splits, k == aged.Creditors, date)
					if !ratsEqual(got, want) {
						t.Errorf("%s on %s: totals %v, want the account balances %v", k.Name, date.Format(time.DateOnly), show(got), show(want))
					}
					if len(want) > 0 {
						checked++
					}
				}
			}
		})
	}
	if checked < 20 {
		t.Errorf("only %d reports had something owed: the books were not read", checked)
	}
}

// TestAllAccountTypesBookUnownedSplits pins the one difference between a
// report and an account's balance on the shared books: all-account-types
// posts 50 to its receivable and payable accounts in a plain transaction,
// outside any lot, owed by no customer or supplier, which no row can hold.
func TestAllAccountTypesBookUnownedSplits(t *testing.T) {
	splits := sqlSplits(t, sharedBooks+"all-account-types-sqlite.gnucash")
	if len(splits) != 2 || splits[0].inLot || splits[1].inLot {
		t.Fatalf("splits %+v, want 2 outside lots", splits)
	}
	rep, err := aged.Build(aged.Debtors, aged.Params{ReportDate: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		Periods: 4, PeriodLengthDays: 30}, bookRecords(t, sharedBooks+"all-account-types-sqlite.gnucash"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Data.([]aged.Debtor); len(d) != 0 {
		t.Errorf("rows %+v, want none", d)
	}
}

// TestLendingXMLAndSQLiteReportsEqual: the lending book's two forms, saved
// by GnuCash with the same GUIDs, give the same reports, byte for byte, on
// every day that matters.
func TestLendingXMLAndSQLiteReportsEqual(t *testing.T) {
	xmlRecs, sqlRecs := bookRecords(t, lendBooks+"lending.gnucash"), bookRecords(t, lendBooks+"lending-sqlite.gnucash")
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, date := range reportDates(sqlSplits(t, lendBooks+"lending-sqlite.gnucash")) {
		for _, k := range []aged.Kind{aged.Debtors, aged.Creditors} {
			p := aged.Params{ReportDate: date, Periods: 3, PeriodLengthDays: 7}
			x, errX := aged.Build(k, p, xmlRecs, now)
			s, errS := aged.Build(k, p, sqlRecs, now)
			if errX != nil || errS != nil {
				t.Fatal(errX, errS)
			}
			xj, _ := json.Marshal(x)
			sj, _ := json.Marshal(s)
			if !bytes.Equal(xj, sj) {
				t.Errorf("%s on %s:\nXML    %s\nSQLite %s", k.Name, date.Format(time.DateOnly), xj, sj)
			}
		}
	}
}

func ratsEqual(a, b map[string]*big.Rat) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func show(m map[string]*big.Rat) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v.FloatString(2)
	}
	return out
}
