package gnucash

import (
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestPlainAndGzip: the gzip book of the shared test data is not the
// plain one compressed (an account and a transaction differ), so the
// plain book is compressed here and both forms must give the same records.
func TestPlainAndGzip(t *testing.T) {
	plain := books + "business-de.gnucash.xml"
	if xmlText(t, plain) == xmlText(t, books+"business-de-gzip.gnucash") {
		t.Fatal("the two business-de books hold the same text: compare them directly")
	}
	gzPath := filepath.Join(t.TempDir(), "business-de.gnucash")
	f, _ := os.Create(gzPath)
	gz := gzip.NewWriter(f)
	gz.Write([]byte(xmlText(t, plain)))
	gz.Close()
	f.Close()
	for _, dt := range dataset.DataTypes {
		a, _ := json.Marshal(mustRecords(t, open(t, plain), dt))
		b, _ := json.Marshal(mustRecords(t, open(t, gzPath), dt))
		if string(a) != string(b) {
			t.Errorf("%s: plain and gzip differ:\n%s\n%s", dt, a, b)
		}
	}
}

func TestDocumentOwners(t *testing.T) {
	src := open(t, books+"business-de.gnucash.xml")
	invoices := byID(mustRecords(t, src, dataset.Invoices))
	bills := byID(mustRecords(t, src, dataset.Bills))
	const voucher = "8de4467c17e04bb2895fb68cc07fc4df" // an employee's expense voucher
	if invoices[voucher] != nil || bills[voucher] != nil {
		t.Error("the employee's expense voucher is an invoice or a bill")
	}
	// R94871 belongs to job 000001 of customer Is That So Ltd.; bill 000001
	// to job 000002 of vendor Super Suppliers Corp.
	if got := invoices["b1e981f796b94ca0b17a9dccb91fedc0"]["customerRef"]; !sameJSON(got,
		map[string]any{"id": "f44645d2397946bcac90dff68cc03b76", "companyName": "Is That So Ltd."}) {
		t.Errorf("job invoice customerRef = %v", got)
	}
	if got := bills["169331c9860642cf84b04f3e3151058a"]["supplierRef"]; !sameJSON(got,
		map[string]any{"id": "4f16fd55c0d64ebe82ffac0bb25fe8f5", "supplierName": "Super Suppliers Corp."}) {
		t.Errorf("job bill supplierRef = %v", got)
	}
	tests := []struct {
		recs                   map[string]source.Record
		id, status, due, total string
	}{
		{invoices, "d9967c10fdf1465e9394a3e4b1e7bd79", "Paid", "0.00", "1327.60"},
		{invoices, "6588f1757b9e4e24b62ad5b37b8d8e07", "PartiallyPaid", "709.95", "1909.95"},
		{invoices, "b1e981f796b94ca0b17a9dccb91fedc0", "Draft", "4908.75", "4908.75"},
		{bills, "286fc2651a7848038a23bb7d065c8b67", "Paid", "0.00", "94.14"}, // tax included: 37.50 = 31.51 + 5.99
		{bills, "4eb0dc387c3f4daba57b11b2a657d8a4", "Draft", "41.40", "41.40"},
	}
	for _, tt := range tests {
		r := tt.recs[tt.id]
		if r["status"] != tt.status || r["amountDue"] != json.Number(tt.due) || r["totalAmount"] != json.Number(tt.total) {
			t.Errorf("%s: status %v, amountDue %v, totalAmount %v; want %s, %s, %s", tt.id,
				r["status"], r["amountDue"], r["totalAmount"], tt.status, tt.due, tt.total)
		}
	}
	if r := invoices["6588f1757b9e4e24b62ad5b37b8d8e07"]; r["issueDate"] != "2023-08-13T00:00:00Z" || r["dueDate"] != "2023-08-23T00:00:00Z" {
		t.Errorf("R1731 issued %v, due %v; want 2023-08-13 and 2023-08-23 (its terms: 10 days)", r["issueDate"], r["dueDate"])
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestOldDates(t *testing.T) {
	entries := byID(mustRecords(t, open(t, books+"old-dates-sqlite.gnucash"), dataset.JournalEntries))
	// post_date 20131231230000 (midnight in Berlin, in UTC), its
	// date-posted slot 20140101; enter_date 20150103081813.
	e := entries["638bf16ba2382d4e3a01868ed661bcf5"]
	if e["postedOn"] != "2014-01-01T00:00:00Z" || e["createdOn"] != "2015-01-03T08:18:13Z" {
		t.Errorf("postedOn %v, createdOn %v; want 2014-01-01T00:00:00Z, 2015-01-03T08:18:13Z", e["postedOn"], e["createdOn"])
	}
	// A scheduled transaction's template is no journal entry.
	if entries["945bbf4d518fbac1ff2c94aa497193ba"] != nil {
		t.Error("the template of a scheduled transaction is a journal entry")
	}
	for id, e := range entries {
		if e["createdOn"] == nil || e["postedOn"] == nil {
			t.Errorf("%s: dates not read: %v", id, e)
		}
	}
	// Newer rows are in the other form. The book was kept in Berlin: its
	// date_opened 2018-02-01 23:00:00 UTC is 2 February there, and 1
	// February to an agent in New York.
	for _, tt := range []struct{ zone, want string }{{"Europe/Berlin", "2018-02-02"}, {"America/New_York", "2018-02-01"}} {
		loc, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		src, err := OpenWith(books+"invoices-sqlite.gnucash", Options{Location: loc})
		if err != nil {
			t.Fatal(err)
		}
		if inv := mustRecords(t, src, dataset.Invoices); inv[0]["issueDate"] != tt.want+"T00:00:00Z" {
			t.Errorf("%s: issueDate %v, want %sT00:00:00Z", tt.zone, inv[0]["issueDate"], tt.want)
		}
	}
}

func TestMissingBook(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "books", "accounts.gnucash")
	src := open(t, path)
	if got := src.DataTypes(); len(got) != len(dataset.DataTypes) {
		t.Errorf("DataTypes() = %v", got)
	}
	_, err := src.Fetch(t.Context(), dataset.Customers)
	wantError(t, err, dataset.FetchError, "GnuCash book "+path+" does not exist")
	// The book appears later: the same source reads it.
	os.MkdirAll(filepath.Dir(path), 0o700)
	copyFile(t, books+"business-de.gnucash.xml", filepath.Dir(path), "accounts.gnucash")
	if recs, err := records(t, src, dataset.Customers); err != nil || len(recs) != 3 {
		t.Errorf("after the book appeared: %d records, %v", len(recs), err)
	}
	if _, err := Open(""); err == nil {
		t.Error(`Open("") opened`)
	}
	_, err = open(t, books).Fetch(t.Context(), dataset.Company)
	wantError(t, err, dataset.FetchError, "is a folder")
	_, err = src.Fetch(t.Context(), "items")
	wantError(t, err, dataset.NotSupported, `"items" is not a data type`)
}

// TestOpenBook: a book GnuCash has open (its lock file beside an XML book,
// a gnclock row in an SQLite book) is read as it is, with a warning naming
// who has it open; the SQLite copy is gone once the batch is closed.
func TestOpenBook(t *testing.T) {
	dir := t.TempDir()
	xmlBook := copyFile(t, books+"business-de.gnucash.xml", dir, "firm.gnucash")
	lock := xmlBook + ".LCK"
	os.WriteFile(lock, nil, 0o600)
	when := time.Date(2026, 3, 2, 8, 15, 0, 0, time.UTC)
	os.Chtimes(lock, when, when)

	sqlBook := copyFile(t, books+"invoices-sqlite.gnucash", dir, "shop.gnucash")
	db, err := sql.Open("sqlite", sqlBook)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO gnclock (Hostname, PID) VALUES ('till-pc', 4242)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	tmp := t.TempDir()
	tests := []struct {
		name, path string
		want       []string
	}{
		{"XML", xmlBook, []string{"open in GnuCash", "firm.gnucash.LCK dates from 2026-03-02 08:15 UTC",
			"changes not yet saved in GnuCash are not included"}},
		{"SQLite", sqlBook, []string{"open in GnuCash on till-pc (process 4242)", "everything entered until then is included"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := OpenWith(tt.path, Options{TempDir: tmp})
			if err != nil {
				t.Fatal(err)
			}
			b, err := src.Fetch(t.Context(), dataset.Customers)
			if err != nil {
				t.Fatalf("Fetch of an open book: %v", err)
			}
			ws := b.(source.Warner).Warnings()
			if len(ws) != 1 || ws[0].RuleID != RuleBookOpen {
				t.Fatalf("warnings %+v, want one %s", ws, RuleBookOpen)
			}
			for _, w := range tt.want {
				if !strings.Contains(ws[0].Message, w) {
					t.Errorf("warning %q does not say %q", ws[0].Message, w)
				}
			}
			n := 0
			if err := b.Records(t.Context(), func(source.Record) error { n++; return nil }); err != nil || n == 0 {
				t.Errorf("Records: %d records, %v", n, err)
			}
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the temporary folder still holds %v after Close", left)
			}
		})
	}
	// Without the lock, no warning.
	os.Remove(lock)
	b, err := open(t, xmlBook).Fetch(t.Context(), dataset.Company)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ws := b.(source.Warner).Warnings(); len(ws) != 0 {
		t.Errorf("warnings without a lock: %+v", ws)
	}
}

func TestNotABook(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	otherDB := filepath.Join(dir, "other.db")
	db, _ := sql.Open("sqlite", otherDB)
	if _, err := db.Exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var gzText = filepath.Join(dir, "notes.gz")
	f, _ := os.Create(gzText)
	gz := gzip.NewWriter(f)
	gz.Write([]byte("just some text\n"))
	gz.Close()
	f.Close()
	tests := []struct {
		name, path string
		want       []string
	}{
		{"text", write("notes.txt", "Dear diary,\n"), []string{"is not a GnuCash book", "XML (compressed or not) or as an SQLite database"}},
		{"empty", write("empty.gnucash", ""), []string{"is not a GnuCash book: the file is empty"}},
		{"other XML", write("feed.xml", `<?xml version="1.0"?><rss><channel/></rss>`), []string{"is not a GnuCash book: it is XML, but not GnuCash's"}},
		{"gzip text", gzText, []string{"is not a GnuCash book"}},
		{"other SQLite", otherDB, []string{"is not a GnuCash book: it is an SQLite database, but without GnuCash's tables"}},
		{"bad gzip", write("bad.gnucash", "\x1f\x8bnot really"), []string{"is not a GnuCash book: it starts as a gzip file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(t, tt.path).Fetch(t.Context(), dataset.Company)
			wantError(t, err, dataset.FetchError, append(tt.want, tt.path)...)
		})
	}
}

func TestBrokenBook(t *testing.T) {
	text := xmlText(t, books+"business-de.gnucash.xml")
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.gnucash")
	f, _ := os.Create(cut)
	gz := gzip.NewWriter(f)
	gz.Write([]byte(text[:len(text)/2]))
	gz.Flush() // no gzip trailer: the file stops mid-stream, as when a copy is cut short
	f.Close()
	_, err := records(t, open(t, cut), dataset.Customers)
	wantError(t, err, dataset.MapError, "cut.gnucash line ", "cut short")

	bad := filepath.Join(dir, "bad.gnucash")
	os.WriteFile(bad, []byte(text[:3000]+"<split:value>12/x</split:value>"+text[3000:]), 0o600)
	_, err = records(t, open(t, bad), dataset.Customers)
	wantError(t, err, dataset.MapError, "bad.gnucash line ")
}

func TestCancelStopsStreaming(t *testing.T) {
	for _, path := range []string{genBook(t, 5000), books + "old-dates-sqlite.gnucash"} {
		b, err := open(t, path).Fetch(t.Context(), dataset.JournalEntries)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		err = b.Records(ctx, func(source.Record) error {
			if n++; n == 10 {
				cancel()
			}
			return nil
		})
		b.Close()
		if !errors.Is(err, context.Canceled) || n > 2000 {
			t.Errorf("%s: Records = %v after %d records, want context.Canceled soon after 10", path, err, n)
		}
	}
}

func TestEmitErrorStops(t *testing.T) {
	for _, path := range []string{books + "business-de.gnucash.xml", books + "old-dates-sqlite.gnucash"} {
		for _, dt := range []dataset.DataType{dataset.JournalEntries, dataset.Customers} {
			b, err := open(t, path).Fetch(t.Context(), dt)
			if err != nil {
				t.Fatal(err)
			}
			stop := errors.New("upload refused")
			n := 0
			err = b.Records(t.Context(), func(source.Record) error { n++; return stop })
			b.Close()
			if err != stop || n != 1 {
				t.Errorf("%s %s: Records = %v after %d records, want the emit error as it is after 1", path, dt, err, n)
			}
		}
	}
}

func TestCompany(t *testing.T) {
	got := mustRecords(t, open(t, books+"business-de-gzip.gnucash"), dataset.Company)
	want := source.Record{"id": "company", "companyName": "business-de-gzip", "baseCurrency": "EUR"}
	if !sameJSON(got[0], want) {
		t.Errorf("company = %v, want %v", got[0], want)
	}
	got = mustRecords(t, open(t, books+"taxreport.gnucash"), dataset.Company)
	if got[0]["baseCurrency"] != "USD" { // no root commodity: the accounts' currency
		t.Errorf("taxreport baseCurrency = %v, want USD", got[0]["baseCurrency"])
	}
}
