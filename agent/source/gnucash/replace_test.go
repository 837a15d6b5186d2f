package gnucash

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestXMLBookReplacedWhileRead: GnuCash saves an XML book by writing a new
// file and renaming it over the old one. A save in the middle of a fetch
// (here, when the first journal entry is out, long before the end of the
// book) leaves the fetch reading the version it opened, whole; the next
// fetch reads the new one.
func TestXMLBookReplacedWhileRead(t *testing.T) {
	const before, after = 2000, 2001
	book := genBook(t, before)
	saved := genBook(t, after) // GnuCash's new file, beside the book
	next := filepath.Join(filepath.Dir(book), "generated.gnucash.tmp")
	if err := os.Rename(saved, next); err != nil {
		t.Fatal(err)
	}
	src := open(t, book)
	b, err := src.Fetch(t.Context(), dataset.JournalEntries)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n, replaced := 0, false
	ids := map[string]bool{}
	err = b.Records(t.Context(), func(r source.Record) error {
		if !replaced {
			if err := os.Rename(next, book); err != nil {
				return err
			}
			replaced = true
		}
		n++
		ids[r["id"].(string)] = true
		return nil
	})
	if err != nil {
		t.Fatalf("Records while the book was replaced: %v", err)
	}
	if !replaced {
		t.Fatal("the book was never replaced")
	}
	if n != before || len(ids) != before {
		t.Errorf("read %d entries (%d ids) while the book was replaced, want the %d of the version opened", n, len(ids), before)
	}
	if last := "7" + hex31(after-1); ids[last] {
		t.Errorf("entry %s of the new version was read", last)
	}
	if got := len(mustRecords(t, src, dataset.JournalEntries)); got != after {
		t.Errorf("the next fetch read %d entries, want the new version's %d", got, after)
	}
}

func hex31(i int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 31)
	for k := 30; k >= 0; k-- {
		b[k] = digits[i%16]
		i /= 16
	}
	return string(b)
}
