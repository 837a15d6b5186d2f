package gnucash

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// books is where the real GnuCash books are: shared/ beside the repository.
const books = "../../../../shared/testdata/gnucash/"

func open(t testing.TB, path string) *Source {
	t.Helper()
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// records fetches dt from src and collects its records.
func records(t testing.TB, src *Source, dt dataset.DataType) ([]source.Record, error) {
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

// mustRecords is records that fails the test on an error.
func mustRecords(t testing.TB, src *Source, dt dataset.DataType) []source.Record {
	t.Helper()
	recs, err := records(t, src, dt)
	if err != nil {
		t.Fatalf("%s: %v", dt, err)
	}
	return recs
}

// byID indexes records by id.
func byID(recs []source.Record) map[string]source.Record {
	m := map[string]source.Record{}
	for _, r := range recs {
		m[r["id"].(string)] = r
	}
	return m
}

// num reads an amount the connector wrote; it must be a json.Number.
func num(t testing.TB, v any) *big.Rat {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("amount %#v is a %T, not a json.Number", v, v)
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		t.Fatalf("amount %q is not a decimal", n)
	}
	return r
}

// frac reads "num/denom" for the independent checks.
func frac(t testing.TB, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		t.Fatalf("%q is not num/denom", s)
	}
	return r
}

// wantError checks err is a *source.Error of status whose message holds
// each of want.
func wantError(t testing.TB, err error, status dataset.Status, want ...string) {
	t.Helper()
	var se *source.Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want a *source.Error %s", err, err, status)
	}
	if se.Status != status {
		t.Errorf("status = %s, want %s (%s)", se.Status, status, se.Message)
	}
	for _, w := range want {
		if !strings.Contains(se.Message, w) {
			t.Errorf("message %q does not say %q", se.Message, w)
		}
	}
}

// copyFile copies src to dir/name.
func copyFile(t testing.TB, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// xmlText is an XML book's text, decompressed when it is gzip.
func xmlText(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); string(head) == "\x1f\x8b" {
		gz, err := gzip.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
