package csv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

const sample = "../../../testdata/sample-csv"

// records fetches dt from src and collects its records.
func records(t *testing.T, src *Source, dt dataset.DataType) ([]source.Record, error) {
	t.Helper()
	b, err := src.Fetch(t.Context(), dt)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var recs []source.Record
	err = b.Records(t.Context(), func(r source.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

func open(t *testing.T, dir string) *Source {
	t.Helper()
	src, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// folder makes a folder holding the given files.
func folder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSampleCounts(t *testing.T) {
	src := open(t, sample)
	if got := src.DataTypes(); !slices.Equal(got, dataset.DataTypes) {
		t.Errorf("DataTypes() = %v, want %v", got, dataset.DataTypes)
	}
	want := map[dataset.DataType]int{
		dataset.Company: 1, dataset.ChartOfAccounts: 8, dataset.TaxRates: 2, dataset.Customers: 3,
		dataset.Suppliers: 2, dataset.Invoices: 3, dataset.Bills: 2, dataset.JournalEntries: 2,
		dataset.CreditNotes: 1, dataset.BillCreditNotes: 1, dataset.Payments: 2, dataset.BillPayments: 1, dataset.BankAccounts: 1,
	}
	for _, dt := range dataset.DataTypes {
		recs, err := records(t, src, dt)
		if err != nil {
			t.Errorf("%s: %v", dt, err)
			continue
		}
		if len(recs) != want[dt] {
			t.Errorf("%s: got %d records, want %d", dt, len(recs), want[dt])
		}
		for _, r := range recs {
			if id, _ := r["id"].(string); id == "" {
				t.Errorf("%s: a record without an id: %v", dt, r)
			}
		}
	}
}

// byID fetches dt from the sample and returns its record id, as JSON.
func byID(t *testing.T, dt dataset.DataType, id string) string {
	t.Helper()
	recs, err := records(t, open(t, sample), dt)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r["id"] == id {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatalf("%s: no record %s", dt, id)
	return ""
}

func TestSampleValues(t *testing.T) {
	tests := []struct {
		dt       dataset.DataType
		id, want string // want: a piece of the record's JSON
	}{
		{dataset.Invoices, "INV-002", `"totalAmount":1234.50`},
		{dataset.Invoices, "INV-002", `"customerRef":{"companyName":"Penmere Boatyard","id":"C002"}`},
		{dataset.Invoices, "INV-002", `"unitAmount":1028.75`},
		{dataset.Invoices, "INV-001", `"amountDue":0.00`},
		{dataset.Bills, "BILL-001", `"supplierRef":{"id":"S001","supplierName":"Cornish Paper Co"}`},
		{dataset.ChartOfAccounts, "1200", `"isBankAccount":true`},
		{dataset.ChartOfAccounts, "2100", `"currentBalance":-392.00`},
		{dataset.Company, "company", `"sourceUrls":{"website":"https://harbour-lights.example"}`},
		{dataset.Customers, "C001", `"addresses":[{"city":"Falmouth"`},
		{dataset.JournalEntries, "JE-001", `"netAmount":-5000.00`},
		{dataset.TaxRates, "VAT20", `"effectiveTaxRate":20`},
	}
	for _, tt := range tests {
		if got := byID(t, tt.dt, tt.id); !strings.Contains(got, tt.want) {
			t.Errorf("%s %s = %s, want it to hold %s", tt.dt, tt.id, got, tt.want)
		}
	}
	if got := byID(t, dataset.Customers, "C002"); strings.Contains(got, "taxNumber") {
		t.Errorf("an empty cell became a field: %s", got)
	}
}

// Enumerations are read in any case and written as the model spells them;
// dates are kept as written.
func TestEnumsAndDates(t *testing.T) {
	body := "id,status,issueDate,dueDate\nI1,partiallypaid,2024-05-02,2024-06-01T00:00:00Z\nI2, PAID ,2024-05-02T10:00:00,\n"
	src := open(t, folder(t, map[string]string{"invoices.csv": body}))
	recs, err := records(t, src, dataset.Invoices)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"dueDate":"2024-06-01T00:00:00Z","id":"I1","issueDate":"2024-05-02","status":"PartiallyPaid"}`,
		`{"id":"I2","issueDate":"2024-05-02T10:00:00","status":"Paid"}`,
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, rec := range recs {
		got, _ := json.Marshal(rec)
		if string(got) != want[i] {
			t.Errorf("record %d = %s, want %s", i, got, want[i])
		}
	}
}

// The amounts are json.Number, never float64: 1234.50 does not become 1234.5.
func TestAmountsStayExact(t *testing.T) {
	recs, err := records(t, open(t, sample), dataset.Invoices)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := recs[1]["totalAmount"].(json.Number); !ok || got != "1234.50" {
		t.Errorf("totalAmount = %#v, want json.Number(\"1234.50\")", recs[1]["totalAmount"])
	}
	line := recs[1]["lineItems"].([]any)[0].(map[string]any)
	if got, ok := line["taxAmount"].(json.Number); !ok || got != "205.75" {
		t.Errorf("lineItems[0].taxAmount = %#v, want json.Number(\"205.75\")", line["taxAmount"])
	}
}

func wantError(t *testing.T, err error, status dataset.Status, msg string) {
	t.Helper()
	var se *source.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *source.Error", err)
	}
	if se.Status != status || !strings.Contains(se.Message, msg) {
		t.Errorf("err = %s %q, want %s holding %q", se.Status, se.Message, status, msg)
	}
}

func TestMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "books")
	src := open(t, dir)
	if got := src.DataTypes(); !slices.Equal(got, dataset.DataTypes) {
		t.Errorf("DataTypes() of a missing folder = %v, want every type", got)
	}
	_, err := src.Fetch(t.Context(), dataset.Invoices)
	wantError(t, err, dataset.FetchError, "folder "+dir+" does not exist")

	// The folder appears later (a drive mounted): the same source reads it.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "invoices.csv"), []byte("id\nI1\n"), 0o600)
	if recs, err := records(t, src, dataset.Invoices); err != nil || len(recs) != 1 {
		t.Errorf("after the folder appeared: %d records, %v", len(recs), err)
	}
}

func TestFolderIsAFile(t *testing.T) {
	dir := folder(t, map[string]string{"books": "x"})
	_, err := open(t, filepath.Join(dir, "books")).Fetch(t.Context(), dataset.Bills)
	wantError(t, err, dataset.FetchError, "is not a folder")
}

func TestOpenNeedsAFolder(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error(`Open("") opened`)
	}
}

func TestMissingFileNotSupported(t *testing.T) {
	dir := folder(t, map[string]string{"invoices.csv": "id\n", "chartofaccounts.csv": "id\nA\n", "notes.txt": ""})
	src := open(t, dir)
	want := []dataset.DataType{dataset.ChartOfAccounts, dataset.Invoices}
	if got := src.DataTypes(); !slices.Equal(got, want) {
		t.Errorf("DataTypes() = %v, want %v", got, want)
	}
	_, err := src.Fetch(t.Context(), dataset.Bills)
	wantError(t, err, dataset.NotSupported, "no bills.csv in folder "+dir)
	_, err = src.Fetch(t.Context(), "items")
	wantError(t, err, dataset.NotSupported, `"items" is not a data type`)
	if recs, err := records(t, src, dataset.ChartOfAccounts); err != nil || len(recs) != 1 {
		t.Errorf("chartofaccounts.csv: %d records, %v", len(recs), err)
	}
	if recs, err := records(t, src, dataset.Invoices); err != nil || len(recs) != 0 {
		t.Errorf("a header-only file: %d records, %v, want none", len(recs), err)
	}
}

func TestFileIsAFolder(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "bills.csv"), 0o700)
	_, err := open(t, dir).Fetch(t.Context(), dataset.Bills)
	wantError(t, err, dataset.FetchError, "is not a file")
}

func TestMapErrors(t *testing.T) {
	tests := []struct {
		name string
		dt   dataset.DataType
		body string
		want string
	}{
		{"bad number", dataset.Invoices, "id,totalAmount\nI1,12.50\nI2,\"1,234.50\"\n",
			`invoices.csv line 3, column totalAmount: "1,234.50" is not a decimal number`},
		{"float syntax", dataset.Invoices, "id,totalAmount\nI1,1e3\n", `line 2, column totalAmount: "1e3" is not a decimal number`},
		{"leading zero", dataset.Invoices, "id,totalAmount\nI1,007\n", `"007" is not a decimal number`},
		{"bad bool", dataset.ChartOfAccounts, "id,isBankAccount\nA,yes\n", `line 2, column isBankAccount: "yes" is not true or false`},
		{"empty id", dataset.Customers, "id,customerName\nC1,A\n,B\n", "customers.csv line 3: no id"},
		{"no id column", dataset.Customers, "customerName\nA\n", "customers.csv line 1: no id column"},
		{"long id", dataset.Customers, "id\n" + strings.Repeat("x", 257) + "\n", "line 2, column id: \"id\" must be 1 to 256 bytes"},
		{"unknown column", dataset.Invoices, "id,totl\nI1,3\n", `invoices.csv line 1: unknown column "totl"; the columns of invoices are amountDue, currency,`},
		{"column twice", dataset.Invoices, "id,status,status\n", "column status twice"},
		{"unnamed column", dataset.Invoices, "id,,status\n", "column 2 has no name"},
		{"semicolons", dataset.Invoices, "id;status\nI1;Paid\n", "separated by commas, not semicolons"},
		{"bare quote", dataset.Invoices, "id,status\nI1,Pa\"id\n", "invoices.csv line 2, character 6: bare \" in non-quoted-field"},
		{"unclosed quote", dataset.Invoices, "id,status\nI1,\"Paid\nI2,Paid\n", `invoices.csv line 3, character 9: extraneous or missing " in quoted-field (in the row that starts on line 2)`},
		{"wrong field count", dataset.Invoices, "id,status\nI1,Paid\nI2\n", "invoices.csv line 3: wrong number of fields"},
		{"bad json", dataset.Invoices, "id,lineItems\nI1,\"[{\"\"a\"\":}]\"\n", "line 2, column lineItems: not a JSON array: invalid character"},
		{"json after json", dataset.Invoices, "id,lineItems\nI1,[] []\n", "column lineItems: not a JSON array: more after its end"},
		{"object for array", dataset.Invoices, "id,lineItems\nI1,{}\n", "column lineItems: not a JSON array"},
		{"text for object", dataset.Company, "sourceUrls\nhttp://x\n", "column sourceUrls: not a JSON object"},
		{"not utf-8", dataset.Customers, "id,customerName\nC1,Caf\xe9\n", "line 2, column customerName: not UTF-8"},
		{"empty file", dataset.Customers, "", "customers.csv is empty"},
		{"two companies", dataset.Company, "companyName\nA\nB\n", "company.csv line 3: the file holds one row"},
		{"no company", dataset.Company, "companyName\n", "company.csv has no row under its header"},
		{"bad invoice status", dataset.Invoices, "id,status\nI1,Settled\n",
			`line 2, column status: "Settled" is not one of Unknown, Draft, Submitted, PartiallyPaid, Paid, Void`},
		{"bad bill status", dataset.Bills, "id,status\nB1,Submitted\n", `column status: "Submitted" is not one of Unknown, Draft, Open,`},
		{"bad account type", dataset.ChartOfAccounts, "id,type\nA,Bank\n", `column type: "Bank" is not one of Unknown, Asset,`},
		{"bad contact status", dataset.Customers, "id,status\nC1,Dormant\n", `column status: "Dormant" is not one of Unknown, Active, Archived`},
		{"bad date", dataset.Invoices, "id,issueDate\nI1,02/05/2024\n", `line 2, column issueDate: "02/05/2024" is not a date`},
		{"bad journal date", dataset.JournalEntries, "id,postedOn\nJ1,yesterday\n", `column postedOn: "yesterday" is not a date`},
		{"bad modified date", dataset.Customers, "id,sourceModifiedDate\nC1,2024-13-01\n", `column sourceModifiedDate: "2024-13-01" is not a date`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := open(t, folder(t, map[string]string{string(tt.dt) + ".csv": tt.body}))
			_, err := records(t, src, tt.dt)
			wantError(t, err, dataset.MapError, tt.want)
		})
	}
}

func TestHeaderTolerance(t *testing.T) {
	// Excel's byte order mark, spaces around names, a quoted field over two
	// lines and a company without an id.
	src := open(t, folder(t, map[string]string{
		"customers.csv": "\xef\xbb\xbfid , customerName\nC1,\"Two\nLines\"\nC2,  \n",
		"company.csv":   "companyName,baseCurrency\nAcme,GBP\n",
	}))
	recs, err := records(t, src, dataset.Customers)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0]["customerName"] != "Two\nLines" || recs[1]["id"] != "C2" || len(recs[1]) != 1 {
		t.Errorf("records = %v", recs)
	}
	recs, err = records(t, src, dataset.Company)
	if err != nil || len(recs) != 1 || recs[0]["id"] != "company" {
		t.Errorf("company = %v, %v, want id company", recs, err)
	}
}

func TestCancelStopsStreaming(t *testing.T) {
	var body strings.Builder
	body.WriteString("id\n")
	for i := range 1000 {
		fmt.Fprintf(&body, "C%d\n", i)
	}
	src := open(t, folder(t, map[string]string{"customers.csv": body.String()}))
	b, err := src.Fetch(t.Context(), dataset.Customers)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	err = b.Records(ctx, func(source.Record) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 10 {
		t.Errorf("Records = %v after %d records, want context.Canceled after 10", err, n)
	}
}

func TestEmitErrorStops(t *testing.T) {
	b, err := open(t, sample).Fetch(t.Context(), dataset.Customers)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stop := errors.New("upload refused")
	n := 0
	err = b.Records(t.Context(), func(source.Record) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("Records = %v after %d records, want the emit error as it is after 1", err, n)
	}
}

// TestMemoryFlat streams a file far bigger than the heap bound and samples
// the heap in use as it goes: memory must not grow with the rows.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 23 MiB file")
	}
	const rows = 200_000
	path := filepath.Join(t.TempDir(), "chartOfAccounts.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "id,nominalCode,name,fullyQualifiedName,type,status,currency,currentBalance,isBankAccount")
	for i := range rows {
		fmt.Fprintf(f, "acc-%07d,%07d,Account number %d,Asset.Current.Receivables.Account number %d,Asset,Active,GBP,%d.%02d,false\n",
			i, i, i, i, i*7, i%100)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	const bound = 20 << 20
	if fi.Size() <= bound {
		t.Fatalf("test file is only %d bytes, not over the bound", fi.Size())
	}
	b, err := open(t, filepath.Dir(path)).Fetch(t.Context(), dataset.ChartOfAccounts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var peak uint64
	var ms runtime.MemStats
	n := 0
	err = b.Records(t.Context(), func(r source.Record) error {
		if n++; n%10_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		return nil
	})
	if err != nil || n != rows {
		t.Fatalf("Records = %v after %d records, want %d", err, n, rows)
	}
	if peak > bound {
		t.Errorf("heap in use reached %d MiB streaming a %d MiB file, want under %d MiB",
			peak>>20, fi.Size()>>20, bound>>20)
	}
	t.Logf("file %d MiB, peak heap in use %d MiB", fi.Size()>>20, peak>>20)
}
