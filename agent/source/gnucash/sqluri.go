package gnucash

import (
	"net/url"
	"strings"
)

// sqliteQuery opens a book read-only: the driver must neither create a
// missing file nor write to it, and waits up to 5 s for a writer's lock.
const sqliteQuery = "mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)"

// sqliteURI is the file: URI that opens the book at the absolute path
// abs, a Windows path when windows is set (the build's own OS in
// practice: a function of the path alone, so Linux tests cover Windows).
// Every character URIs reserve is escaped (a space, '#', '?', '%'), so a
// book named "Books #2?.gnucash" is that file, not a fragment or a query.
//
//	/home/ann/books.gnucash          file:///home/ann/books.gnucash
//	C:\Books\firm.gnucash            file:///C:/Books/firm.gnucash
//	\\server\accounts\books.gnucash  file:////server/accounts/books.gnucash
//	\\?\C:\Books\firm.gnucash        file:///C:/Books/firm.gnucash
//	\\?\UNC\server\share\b.gnucash   file:////server/share/b.gnucash
//
// SQLite takes an empty authority followed by "//server/share" as the
// UNC path \\server\share, and drops the '/' before a drive letter.
func sqliteURI(abs string, windows bool) string {
	p := abs
	if windows {
		p = strings.ReplaceAll(p, `\`, `/`)
		switch {
		case strings.HasPrefix(p, "//?/UNC/"), strings.HasPrefix(p, "//./UNC/"):
			p = "//" + p[len("//?/UNC/"):]
		case strings.HasPrefix(p, "//?/"), strings.HasPrefix(p, "//./"):
			p = p[len("//?/"):]
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // C:/Books
		}
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: sqliteQuery}
	return u.String()
}
