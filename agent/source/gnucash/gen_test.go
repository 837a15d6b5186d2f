package gnucash

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/agent/source/gnucash/gnucashtest"
)

// genAccounts are the generated book's accounts under its root.
var genAccounts = gnucashtest.Accounts()

// writeGenBook writes a generated book of txns transactions as plain XML
// (gnucashtest.WriteXML).
func writeGenBook(w io.Writer, txns int) error {
	return gnucashtest.WriteXML(w, txns)
}

// genBook writes a generated book of txns transactions, gzip-compressed as
// GnuCash saves, into a temporary folder.
func genBook(tb testing.TB, txns int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "generated.gnucash")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := gnucashtest.WriteBook(f, txns); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}
