package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/ndjson"
)

// sampleBook reads testdata/sample: the records the csv connector emits
// for the repository's sample book, by data type.
func sampleBook(t testing.TB) map[dataset.DataType][][]byte {
	t.Helper()
	book := map[dataset.DataType][][]byte{}
	for _, dt := range dataset.DataTypes {
		data, err := os.ReadFile(filepath.Join("testdata", "sample", string(dt)+".ndjson"))
		for _, line := range ndjson.Lines(data) {
			book[dt] = append(book[dt], line)
		}
		if err != nil || len(book[dt]) == 0 {
			t.Fatalf("%s: %d records, %v", dt, len(book[dt]), err)
		}
	}
	return book
}

func TestDecodeSampleBook(t *testing.T) {
	for dt, recs := range sampleBook(t) {
		for _, raw := range recs {
			rec, err := Decode(dt, raw)
			if err != nil {
				t.Errorf("%s %s: %v", dt, raw, err)
				continue
			}
			if rec.DataType() != dt || rec.RecordID() == "" {
				t.Errorf("%s: decoded as %s with id %q", dt, rec.DataType(), rec.RecordID())
			}
		}
	}
}

func TestDecodeTyped(t *testing.T) {
	raw := `{"id":"INV-1","invoiceNumber":"1001","customerRef":{"id":"C1","companyName":"Bluebell"},` +
		`"issueDate":"2024-05-02T00:00:00","currency":"GBP","lineItems":[{"description":"Print","quantity":10,` +
		`"unitAmount":"45.75","subTotal":457.50,"taxAmount":91.50,"totalAmount":549.00,"accountRef":{"id":"4000","name":"Sales"},` +
		`"taxRateRef":{"id":"VAT20","name":"Standard"},"itemRef":{"id":"X"}}],"subTotal":457.50,"totalTaxAmount":91.50,` +
		`"totalAmount":549.00,"amountDue":0.00,"status":"Paid","modifiedDate":"2024-05-03T10:00:00Z","salesOrderRefs":[{"id":"SO1"}]}`
	rec, err := Decode(dataset.Invoices, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	inv := rec.(*Invoice)
	if inv.CustomerRef.ID != "C1" || inv.Status != InvoiceStatusPaid || len(inv.LineItems) != 1 ||
		inv.LineItems[0].AccountRef.ID != "4000" || inv.LineItems[0].TaxRateRef.Name != "Standard" || inv.ModifiedDate == "" {
		t.Errorf("decoded %+v", inv)
	}
	if got := inv.LineItems[0].UnitAmount.String(); got != "45.75" {
		t.Errorf("unitAmount from a string: %s", got)
	}
	// Marshalled back, the model's fields keep their text; the unknown ones
	// (itemRef, salesOrderRefs) are not the model's to keep.
	out, _ := json.Marshal(inv)
	for _, want := range []string{`"subTotal":457.50`, `"amountDue":0.00`, `"unitAmount":45.75`, `"customerRef":{"id":"C1","companyName":"Bluebell"}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled %s, want %s in it", out, want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, dt, raw string
		want          error
		msg           string
	}{
		{"not JSON", "customers", `{"id":`, ErrMalformed, "not valid JSON"},
		{"array", "customers", `[{"id":"a"}]`, ErrMalformed, "not a JSON object"},
		{"null", "customers", `null`, ErrMalformed, "not a JSON object"},
		{"empty", "customers", ``, ErrMalformed, "not valid JSON"},
		{"trailing", "customers", `{"id":"a"} {}`, ErrMalformed, "not valid JSON"},
		{"number for a string", "customers", `{"id":"a","customerName":5}`, ErrMalformed, "customerName is a number, not a string"},
		{"object for an array", "invoices", `{"id":"a","lineItems":{}}`, ErrMalformed, "lineItems is an object, not an array"},
		{"string for a bool", "chartOfAccounts", `{"id":"a","isBankAccount":"yes"}`, ErrMalformed, "isBankAccount is a string, not true or false"},
		{"nested", "invoices", `{"id":"a","customerRef":{"id":7}}`, ErrMalformed, "customerRef.id is a number"},
		{"bad amount", "invoices", `{"id":"a","totalAmount":"12,50"}`, ErrNotDecimal, `"12,50"`},
		{"bool amount", "bills", `{"id":"a","lineItems":[{"subTotal":true}]}`, ErrNotDecimal, "true"},
		{"unknown type", "items", `{"id":"a"}`, ErrMalformed, "not a data type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(dataset.DataType(tt.dt), []byte(tt.raw))
			if !errors.Is(err, tt.want) || !strings.Contains(fmtErr(err), tt.msg) {
				t.Errorf("got %v, want %v saying %q", err, tt.want, tt.msg)
			}
			if err != nil && strings.Contains(err.Error(), "model.") {
				t.Errorf("message names Go types: %v", err)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzDecode: Decode never panics; what it accepts marshals to JSON that
// decodes again to the same record.
func FuzzDecode(f *testing.F) {
	for _, recs := range sampleBook(f) {
		for _, raw := range recs {
			f.Add(uint8(0), raw)
		}
	}
	f.Add(uint8(5), []byte(`{"id":"a","lineItems":[{"quantity":"1e3","unitAmount":-0.5}],"totalAmount":"1E-3"}`))
	f.Add(uint8(7), []byte(`{"id":"a","journalLines":[{"netAmount":1},{"netAmount":null}]}`))
	f.Add(uint8(2), []byte(`{"id":"a","CUSTOMERNAME":"x","addresses":[{}],"status":"Active"}`))
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		dt := dataset.DataTypes[int(which)%len(dataset.DataTypes)]
		rec, err := Decode(dt, raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotDecimal) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrNotDecimal: %v", err)
			}
			return
		}
		out, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("marshal %T: %v", rec, err)
		}
		again, err := Decode(dt, out)
		if err != nil {
			t.Fatalf("decode of own output %s: %v", out, err)
		}
		out2, _ := json.Marshal(again)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
		// Validation of any record that decodes never panics either.
		v := NewValidator(dt, nil)
		_ = v.Add(raw)
		_ = v.Add(raw)
		if v.Errors() == 0 {
			t.Fatalf("a duplicate id was not found in %s", raw)
		}
	})
}
