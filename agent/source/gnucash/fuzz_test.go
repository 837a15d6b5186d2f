package gnucash

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// smallBook is a valid book of one account, one transaction and one
// customer.
func smallBook() string {
	var b bytes.Buffer
	writeGenBook(&b, 1)
	return b.String()
}

// readAll loads an XML book for every part and maps each data type, alone
// and all of them in one read.
func readAll(data []byte) error {
	var errs []error
	for _, parts := range []part{partMeta, partMeta | partBalances, partMeta | partTaxTables | partCustomers | partVendors | partInvoices | partLots} {
		l := &xmlLoader{r: bytes.NewReader(data), closer: func() error { return nil }}
		bk, err := l.load(context.Background(), parts, nil)
		if err == nil {
			discard := func(map[string]any) error { return nil }
			mapCompany(bk, "fuzz.gnucash")
			err = errors.Join(mapAccounts(bk, discard), mapTaxRates(bk, discard), mapContacts(bk.customers, "customerName", discard),
				mapInvoices(bk, false, false, discard), mapInvoices(bk, true, false, discard),
				mapInvoices(bk, false, true, discard), mapInvoices(bk, true, true, discard), mapBankAccounts(bk, discard))
		}
		errs = append(errs, err)
	}
	for _, dts := range [][]dataset.DataType{{dataset.Payments}, {dataset.BillPayments}, dataset.DataTypes} {
		l := &xmlLoader{r: bytes.NewReader(data), closer: func() error { return nil },
			reread: func() (io.Reader, error) { return bytes.NewReader(data), nil }}
		r := &reading{l: l, name: "fuzz.gnucash", loc: time.UTC, loads: new(atomic.Int64)}
		sinks := make([]source.Sink, len(dts))
		for i, dt := range dts {
			sinks[i] = source.Sink{Type: dt, Emit: func(source.Record) error { return nil }, Done: func(err error) { errs = append(errs, err) }}
		}
		r.Records(context.Background(), sinks)
	}
	l := &xmlLoader{r: bytes.NewReader(data), closer: func() error { return nil }}
	_, err := l.load(context.Background(), partMeta, func(bk *book, t *txn) error { mapTxn(bk, t); return nil })
	return errors.Join(append(errs, err)...)
}

func FuzzXMLBook(f *testing.F) {
	book := smallBook()
	f.Add([]byte(book))
	f.Add([]byte(strings.Replace(book, "<gnc:book ", "<gnc:book><gnc:book ", 1)))
	f.Add([]byte(`<gnc-v2>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</gnc-v2>`))
	f.Add([]byte(`<gnc-v2><gnc:account a="` + strings.Repeat("x", 5000) + `"/></gnc-v2>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE gnc-v2 [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><gnc-v2>&b;</gnc-v2>`))
	f.Add([]byte(`<gnc-v2><gnc:book><gnc:transaction><trn:splits><trn:split><split:value>1/0</split:value></trn:split></trn:splits></gnc:transaction></gnc:book></gnc-v2>`))
	f.Add([]byte(`<gnc-v2><gnc:GncInvoice><invoice:owner><owner:type>gncJob</owner:type></invoice:owner></gnc:GncInvoice></gnc-v2>`))
	f.Add([]byte(`<gnc-v2><gnc:pricedb><![CDATA[</gnc:pricedb>]]></gnc:pricedb><gnc:transaction/></gnc-v2>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tm := time.AfterFunc(5*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("hung on %q\n%s", data, buf[:n]))
		})
		defer tm.Stop()
		readAll(data) // errors are fine; a panic or a hang is not
	})
}

func TestHostileXML(t *testing.T) {
	book := smallBook()
	tests := []struct {
		name, doc, want string
	}{
		{"doctype", `<?xml version="1.0"?><!DOCTYPE gnc-v2 [<!ENTITY a "x">]><gnc-v2/>`, "DOCTYPE"},
		{"entity", `<gnc-v2><gnc:book><gnc:account><act:name>&a;</act:name></gnc:account></gnc:book></gnc-v2>`, "entity"},
		{"deep", `<gnc-v2><gnc:book><gnc:account>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</gnc:account></gnc:book></gnc-v2>`, "nested more than 64"},
		{"huge attribute", `<gnc-v2 a="` + strings.Repeat("x", 2<<20) + `"/>`, "longer than"},
		{"huge text", `<gnc-v2><gnc:book><gnc:account><act:name>` + strings.Repeat("x", 2<<20) + `</act:name></gnc:account></gnc:book></gnc-v2>`, "longer than"},
		{"huge comment", `<gnc-v2><!--` + strings.Repeat("<x>", 1<<20) + `--></gnc-v2>`, "longer than"},
		{"mismatched", `<gnc-v2><gnc:book><gnc:account></act:name></gnc:book></gnc-v2>`, "closes"},
		{"cut", book[:len(book)/2], "cut short"},
		{"bad number", strings.Replace(book, "<split:value>", "<split:value>1e999999", 1), "split 1 value"},
		{"wrong root", `<gnucash/>`, "not <gnc-v2>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readAll([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// TestGuardDrops: dropped elements vanish, the rest reaches the decoder
// byte for byte, whatever the read sizes.
func TestGuardDrops(t *testing.T) {
	in := `<r><gnc:transaction a="1"><x>&lt;gnc:transaction</x></gnc:transaction><gnc:transactions/>` +
		`<gnc:transaction/><!-- <gnc:transaction> --><y>1</y></r>`
	want := `<r><gnc:transactions/><!-- <gnc:transaction> --><y>1</y></r>`
	for _, size := range []int{1, 2, 3, 7, 64, 4096} {
		g := newGuard(strings.NewReader(in), "gnc:transaction")
		var out bytes.Buffer
		buf := make([]byte, size)
		for {
			n, err := g.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if out.String() != want {
			t.Errorf("read %d at a time: %q, want %q", size, out.String(), want)
		}
	}
}
