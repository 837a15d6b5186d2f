package model

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// decodeBefore is Decode as it was before the plain records' decoder:
// json.Unmarshal alone. Decode must accept and refuse exactly what it did,
// with the same records and the same errors.
func decodeBefore(dt dataset.DataType, raw []byte) (Record, error) {
	rec := New(dt)
	if err := json.Unmarshal(raw, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// checkPlain fails unless Decode gives raw the answer it gave before,
// and unless what decodePlain reads is what json.Unmarshal makes of it.
func checkPlain(t *testing.T, dt dataset.DataType, raw []byte) (plain bool) {
	t.Helper()
	want, wantErr := decodeBefore(dt, raw)
	if rec := New(dt); decodePlain(raw, rec) {
		if wantErr != nil || !reflect.DeepEqual(rec, want) {
			t.Fatalf("%s %q: decodePlain read %+v; json.Unmarshal: %+v, %v", dt, raw, rec, want, wantErr)
		}
		plain = true
	}
	got, err := Decode(dt, raw)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%s %q: Decode = %v; json.Unmarshal: %v", dt, raw, err, wantErr)
	case err != nil && err.Error() != describe(wantErr).Error() && err.Error() != "malformed record: not a JSON object" &&
		err.Error() != "malformed record: not valid JSON":
		t.Fatalf("%s %q: Decode = %v; before: %v", dt, raw, err, describe(wantErr))
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%s %q: Decode = %+v; before: %+v", dt, raw, got, want)
	}
	return plain
}

// plainLines are records at the edges of what decodePlain reads: each
// must decode as json.Unmarshal decodes it, plain or not.
var plainLines = []struct {
	dt  dataset.DataType
	raw string
}{
	{dataset.Invoices, string(benchInvoiceLine(42))},
	{dataset.Invoices, `{"id":"a","lineItems":[]}`},
	{dataset.Invoices, `{"id":"a","lineItems":[{},{"quantity":1}]}`},
	{dataset.Invoices, `{"id":"a","lineItems":null}`},
	{dataset.Invoices, `{"id":"a","customerRef":null}`},
	{dataset.Invoices, `{"id":"a","subTotal":null}`},
	{dataset.Invoices, `{"id":"a","subTotal":"1.5","subTotal":"2"}`},
	{dataset.Invoices, `{"id":"a","customerRef":{"id":"x"},"customerRef":{"companyName":"y"}}`},
	{dataset.Invoices, `{"ID":"a"}`},
	{dataset.Invoices, `{"iD":"a","Id":"b"}`},
	{dataset.Invoices, `{"id":"a\u0062"}`},
	{dataset.Invoices, `{"id":"a\"b"}`},
	{dataset.Invoices, "{\"id\":\"\xff\"}"},
	{dataset.Invoices, `{"id":"ü€"}`},
	{dataset.Invoices, `{"id":1}`},
	{dataset.Invoices, `{"id":"a","subTotal":1.5e3}`},
	{dataset.Invoices, `{"id":"a","subTotal":01}`},
	{dataset.Invoices, `{"id":"a","subTotal":"01"}`},
	{dataset.Invoices, `{"id":"a","subTotal":-}`},
	{dataset.Invoices, `{"id":"a","subTotal":true}`},
	{dataset.Invoices, `{"id":"a","subTotal":"x"}`},
	{dataset.Invoices, `{"id":"a","subTotal":"1.5","unknown":{"a":[1,2]}}`},
	{dataset.Invoices, `{"id":"a"} `},
	{dataset.Invoices, `{"id":"a"} x`},
	{dataset.Invoices, `{"id":"a"}{}`},
	{dataset.Invoices, ` { "id" : "a" , "status" : "Paid" } `},
	{dataset.Invoices, `{"id":"a",}`},
	{dataset.Invoices, `{"id":"a"`},
	{dataset.Invoices, `{"id":"a","lineItems":[{"accountRef":{"id":"1"}},]}`},
	{dataset.Invoices, `{"id":"a","lineItems":[{"accountRef":{"id":"1"}}`},
	{dataset.Invoices, `{"id":"a","lineItems":{}}`},
	{dataset.Invoices, `{"id":"a","customerRef":[]}`},
	{dataset.Invoices, `{"id":"a","status":"Nonsense"}`},
	{dataset.Invoices, `[]`},
	{dataset.Invoices, `{}`},
	{dataset.ChartOfAccounts, `{"id":"a","isBankAccount":true,"currentBalance":"-12.50"}`},
	{dataset.ChartOfAccounts, `{"id":"a","isBankAccount":tru}`},
	{dataset.ChartOfAccounts, `{"id":"a","isBankAccount":"true"}`},
	{dataset.ChartOfAccounts, `{"id":"a","isBankAccount":truex}`},
	{dataset.Customers, `{"id":"a","customerName":"x","addresses":[{"line1":"1 Road"}],"status":"Active"}`},
	{dataset.Customers, `{"id":"a","contactName":"x","Contact":{}}`},
	{dataset.Company, `{"id":"a","companyName":"x","sourceUrls":{"a":"b"}}`},
	{dataset.JournalEntries, `{"id":"a","journalLines":[{"netAmount":1},{"netAmount":-1.00,"accountRef":{"id":"x"}}]}`},
	{dataset.JournalEntries, `{"id":"a","journalLines":[{"netAmount":1},{"netAmount":null}]}`},
	{dataset.Payments, `{"id":"a","lines":[{"amount":"1","links":[{"type":"Invoice","id":"x","amount":"-1"}]}]}`},
}

// benchInvoiceLine is invoice i as the hub's benchmark writes it.
func benchInvoiceLine(i int) []byte {
	cents := 1000 + (i*7919)%900000
	tax := cents / 5
	day := 1 + i%28
	return fmt.Appendf(nil, `{"id":"inv-%07d","invoiceNumber":"INV-%07d","customerRef":{"id":"cus-%05d","companyName":"Customer %d Ltd"},`+
		`"issueDate":"2026-01-%02dT00:00:00Z","dueDate":"2026-02-%02dT00:00:00Z","currency":"GBP",`+
		`"subTotal":"%d.%02d","totalTaxAmount":"%d.%02d","totalAmount":"%d.%02d","amountDue":"%d.%02d","status":"Submitted"}`,
		i, i, i%5000, i%5000, day, day,
		cents/100, cents%100, tax/100, tax%100, (cents+tax)/100, (cents+tax)%100, (cents+tax)/100, (cents+tax)%100)
}

func TestDecodeAsBefore(t *testing.T) {
	for _, l := range plainLines {
		checkPlain(t, l.dt, []byte(l.raw))
	}
	// The plain reader must be what reads the usual records, or it cuts
	// nothing: the benchmark's invoices, and most of the sample book.
	if !checkPlain(t, dataset.Invoices, benchInvoiceLine(7)) {
		t.Errorf("the benchmark's invoice is not read as plain")
	}
	var plain, all int
	for dt, recs := range sampleBook(t) {
		for _, raw := range recs {
			all++
			if checkPlain(t, dt, raw) {
				plain++
			}
		}
	}
	if plain*10 < all*9 {
		t.Errorf("%d of the sample book's %d records read as plain, want 90%%", plain, all)
	}
}

func FuzzDecodePlain(f *testing.F) {
	for _, l := range plainLines {
		f.Add(uint8(0), []byte(l.raw))
	}
	for _, recs := range sampleBook(f) {
		for _, raw := range recs {
			f.Add(uint8(0), raw)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		checkPlain(t, dataset.DataTypes[int(which)%len(dataset.DataTypes)], raw)
	})
}

// BenchmarkDecode decodes the hub benchmark's invoices and reports
// records/s beside json.Unmarshal's of the same records into the same
// type (decode/unmarshal), measured in the same run: Decode was
// json.Unmarshal.
func BenchmarkDecode(b *testing.B) {
	var lines [][]byte
	for i := range 1000 {
		lines = append(lines, benchInvoiceLine(i))
	}
	rate := func(decode func(dataset.DataType, []byte) (Record, error)) float64 {
		start, n := time.Now(), 0
		for ; time.Since(start) < 50*time.Millisecond; n++ {
			for _, l := range lines {
				if _, err := decode(dataset.Invoices, l); err != nil {
					b.Fatal(err)
				}
			}
		}
		return float64(n*len(lines)) / time.Since(start).Seconds()
	}
	for b.Loop() {
		for _, l := range lines {
			if _, err := Decode(dataset.Invoices, l); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	got, limit := 0.0, 0.0
	for range 5 {
		got, limit = math.Max(got, rate(Decode)), math.Max(limit, rate(decodeBefore))
	}
	b.ReportMetric(got, "records/s")
	b.ReportMetric(limit, "unmarshal-records/s")
	b.ReportMetric(got/limit, "decode/unmarshal")
}
