package gnucash

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Source is one GnuCash book file.
type Source struct {
	path string
	opts Options
	// opens and loads count the book's opens (one a Fetch or FetchTypes)
	// and reads (a pass over an XML book's text, a read transaction on an
	// SQLite book's copy), for the tests.
	opens, loads atomic.Int64
}

// Options are a source's settings; the zero value is the default.
type Options struct {
	// Location is the time zone a date stored as an instant is read in
	// when the book does not record one (see the package comment): the
	// agent's own, time.Local, when nil.
	Location *time.Location
	// TempDir is where the consistent copy of an SQLite book is made for
	// a fetch (and removed after it): the system's temporary folder when
	// empty.
	TempDir string
}

var (
	_ source.MultiSource = (*Source)(nil)
	_ source.Locker      = (*Source)(nil)
)

// Open returns the source for the book at path. It does not look at the
// file: the agent starts even while the book is missing (a network drive
// not yet mounted, a book being moved), and each Fetch reports what is
// wrong with it then.
func Open(path string) (*Source, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*Source, error) {
	if o.Location == nil {
		o.Location = time.Local
	}
	if path == "" {
		return nil, errors.New("gnucash: no book file given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("gnucash: book %s: %w", path, err)
	}
	return &Source{path: abs, opts: o}, nil
}

// Locked reports whether GnuCash holds the book locked now: opening it
// fails as a Fetch would with FetchBookLocked (only on Windows, where
// GnuCash's open file can be shared with no reader).
func (s *Source) Locked() bool {
	f, err := OpenBookFile(s.path)
	if err != nil {
		return source.IsLocked(err)
	}
	f.Close()
	return false
}

// Path is the book's absolute path.
func (s *Source) Path() string { return s.path }

// DataTypes lists every data type: any GnuCash book, even a new empty one,
// has a company, a chart of accounts and possibly none of the rest, and a
// type with no records is a valid, empty sync rather than NotSupported.
func (s *Source) DataTypes() []dataset.DataType { return slices.Clone(dataset.DataTypes) }

// Fetch checks the book (there, a GnuCash book) and opens it for dt, an
// SQLite book by copying it; a book open in GnuCash is read too, with a
// warning. The book is read, and its faults found, by the batch's Records.
func (s *Source) Fetch(ctx context.Context, dt dataset.DataType) (source.Batch, error) {
	if err := source.Check(ctx, dt); err != nil {
		return nil, err
	}
	r, err := s.reading(ctx)
	if err != nil {
		return nil, err
	}
	return &batch{r: r, dt: dt}, nil
}

// FetchTypes is Fetch for several data types read together: the book is
// checked and opened once (an SQLite book copied once), and Records reads
// that one version of it for all of them, in one pass, two with payments
// (see reading.read).
func (s *Source) FetchTypes(ctx context.Context, _ []dataset.DataType) (source.MultiBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.reading(ctx)
}

// reading opens the book for a fetch.
func (s *Source) reading(ctx context.Context) (*reading, error) {
	s.opens.Add(1)
	l, warnings, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	return &reading{l: l, name: filepath.Base(s.path), warnings: warnings, loc: s.opts.Location, loads: &s.loads}, nil
}

var (
	gzipMagic   = []byte{0x1f, 0x8b}
	sqliteMagic = []byte("SQLite format 3\x00")
)

// sniffBytes is how much of the start of a file tells an XML book.
const sniffBytes = 4096

// open tells the book's format by its first bytes, not its name (GnuCash
// names both kinds .gnucash), and opens it with the warnings it has.
func (s *Source) open(ctx context.Context) (loader, []source.Warning, error) {
	f, err := OpenBookFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, source.Fetchf(err, "GnuCash book %s does not exist", s.path)
	case err != nil:
		return nil, nil, source.Fetchf(err, "cannot open GnuCash book %s: %v", s.path, source.Reason(err))
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, nil, source.Fetchf(nil, "%s is a folder, not a GnuCash book file", s.path)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, err := br.Peek(len(sqliteMagic))
	if err != nil && err != io.EOF {
		f.Close()
		return nil, nil, source.Fetchf(err, "cannot read GnuCash book %s: %v", s.path, source.Reason(err))
	}
	if bytes.HasPrefix(head, sqliteMagic) {
		f.Close()
		return s.openSQLite(ctx)
	}
	// An XML book is read from the file opened here, to its end, as many
	// times as the data type needs: a save in GnuCash meanwhile renames a
	// new file over the book, and this one stays the version it was.
	r, kind, closer := io.Reader(br), "", f.Close
	reread := func() (io.Reader, error) { _, err := f.Seek(0, io.SeekStart); return f, err }
	if bytes.HasPrefix(head, gzipMagic) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, source.Fetchf(err, "%s is not a GnuCash book: it starts as a gzip file but cannot be decompressed (%v)", s.path, err)
		}
		r, kind, closer = gz, "compressed ", func() error { return errors.Join(gz.Close(), f.Close()) }
		reread = func() (io.Reader, error) {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
			return gz, gz.Reset(bufio.NewReaderSize(f, 64<<10))
		}
	}
	l, err := s.openXML(bufio.NewReaderSize(r, 64<<10), kind)
	if err != nil {
		closer()
		return nil, nil, err
	}
	l.closer, l.reread = closer, reread
	var warnings []source.Warning
	if w, ok := xmlLockWarning(s.path); ok {
		warnings = append(warnings, w)
	}
	return l, warnings, nil
}

// openXML checks that the XML text r starts as a GnuCash book does.
func (s *Source) openXML(r *bufio.Reader, kind string) (*xmlLoader, error) {
	head, err := r.Peek(sniffBytes)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, source.Fetchf(err, "cannot read %sGnuCash book %s: %v", kind, s.path, source.Reason(err))
	}
	if !looksLikeXMLBook(head) {
		return nil, notBook(s.path, head)
	}
	return &xmlLoader{r: r}, nil
}

// xmlLockWarning is the warning for an XML book with GnuCash's lock file
// beside it. The lock file holds no host, so the warning gives its time.
func xmlLockWarning(path string) (source.Warning, bool) {
	fi, err := os.Stat(path + ".LCK")
	if err != nil {
		return source.Warning{}, false
	}
	return source.Warning{RuleID: RuleBookOpen, Message: fmt.Sprintf("The book was open in GnuCash while it was read "+
		"(its lock file %s dates from %s; GnuCash leaves it behind when it ends without closing the book): "+
		"this sync holds the book as last saved, and changes not yet saved in GnuCash are not included.",
		filepath.Base(path)+".LCK", fi.ModTime().UTC().Format("2006-01-02 15:04 UTC"))}, true
}

// looksLikeXMLBook: optional byte order mark, white space, the XML
// declaration and comments, then <gnc-v2.
func looksLikeXMLBook(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if !bytes.HasPrefix(bytes.TrimSpace(head), []byte("<")) {
		return false
	}
	i := bytes.Index(head, []byte("<gnc-v2"))
	return i >= 0 && len(head) > i+7 && strings.IndexByte(" \t\r\n>/", head[i+7]) >= 0
}

// notBook says what the file is instead, where it can tell.
func notBook(path string, head []byte) error {
	t := bytes.TrimSpace(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")))
	what := "GnuCash saves a book as XML (compressed or not) or as an SQLite database"
	switch {
	case len(head) == 0:
		return source.Fetchf(nil, "%s is not a GnuCash book: the file is empty", path)
	case bytes.HasPrefix(t, []byte("<")):
		return source.Fetchf(nil, "%s is not a GnuCash book: it is XML, but not GnuCash's (no <gnc-v2> element at its start)", path)
	}
	return source.Fetchf(nil, "%s is not a GnuCash book: %s, and this file is neither", path, what)
}
