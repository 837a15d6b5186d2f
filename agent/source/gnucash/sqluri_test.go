package gnucash

import (
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestSQLiteURI(t *testing.T) {
	const q = "?" + sqliteQuery
	tests := []struct {
		name, path string
		windows    bool
		want       string
	}{
		{"unix", "/home/ann/books.gnucash", false, "file:///home/ann/books.gnucash" + q},
		{"unix with a space, #, ? and %", "/home/ann/Books #2? 100%.gnucash", false,
			"file:///home/ann/Books%20%232%3F%20100%25.gnucash" + q},
		{"unix backslash is a name", `/srv/a\b.gnucash`, false, "file:///srv/a%5Cb.gnucash" + q},
		{"drive letter", `C:\Books\firm.gnucash`, true, "file:///C:/Books/firm.gnucash" + q},
		{"drive letter, spaces", `D:\My Documents\Firm & Co.gnucash`, true, "file:///D:/My%20Documents/Firm%20&%20Co.gnucash" + q},
		{"drive letter, # ? %", `C:\Books\#1 50%?.gnucash`, true, "file:///C:/Books/%231%2050%25%3F.gnucash" + q},
		{"mapped drive", `Z:\shared\books.gnucash`, true, "file:///Z:/shared/books.gnucash" + q},
		{"UNC", `\\server\accounts\books.gnucash`, true, "file:////server/accounts/books.gnucash" + q},
		{"UNC with spaces", `\\nas 1\Shared Books\2024 #1.gnucash`, true, "file:////nas%201/Shared%20Books/2024%20%231.gnucash" + q},
		{"extended length", `\\?\C:\Books\firm.gnucash`, true, "file:///C:/Books/firm.gnucash" + q},
		{"extended length UNC", `\\?\UNC\server\share\b.gnucash`, true, "file:////server/share/b.gnucash" + q},
		{"non-ASCII", `C:\Bücher\Müller GmbH.gnucash`, true, "file:///C:/B%C3%BCcher/M%C3%BCller%20GmbH.gnucash" + q},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sqliteURI(tt.path, tt.windows); got != tt.want {
				t.Errorf("sqliteURI(%q, %v)\n got %s\nwant %s", tt.path, tt.windows, got, tt.want)
			}
		})
	}
}

// TestSQLiteBookWithAnAwkwardName: a real book whose name holds every
// character URIs reserve opens through its URI.
func TestSQLiteBookWithAnAwkwardName(t *testing.T) {
	book := copyFile(t, books+"simple-sqlite.gnucash", t.TempDir(), "Books #2? 100% & more.gnucash")
	if recs := mustRecords(t, open(t, book), dataset.Company); len(recs) != 1 {
		t.Errorf("%d company records, want 1", len(recs))
	}
}
