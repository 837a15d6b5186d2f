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

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Source is one GnuCash book file.
type Source struct {
	path string
}

var _ source.Source = (*Source)(nil)

// Open returns the source for the book at path. It does not look at the
// file: the agent starts even while the book is missing (a network drive
// not yet mounted, a book being moved), and each Fetch reports what is
// wrong with it then.
func Open(path string) (*Source, error) {
	if path == "" {
		return nil, errors.New("gnucash: no book file given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("gnucash: book %s: %w", path, err)
	}
	return &Source{path: abs}, nil
}

// Path is the book's absolute path.
func (s *Source) Path() string { return s.path }

// DataTypes lists every data type: any GnuCash book, even a new empty one,
// has a company, a chart of accounts and possibly none of the rest, and a
// type with no records is a valid, empty sync rather than NotSupported.
func (s *Source) DataTypes() []dataset.DataType { return slices.Clone(dataset.DataTypes) }

// Fetch checks the book (there, a GnuCash book, not open in GnuCash) and
// opens it for dt. The book is read, and its faults found, by the batch's
// Records.
func (s *Source) Fetch(ctx context.Context, dt dataset.DataType) (source.Batch, error) {
	if !dt.Valid() {
		return nil, &source.Error{Status: dataset.NotSupported,
			Message: fmt.Sprintf("%q is not a data type; they are %s", dt, dataset.DataTypeNames())}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	return &batch{l: l, dt: dt, name: filepath.Base(s.path)}, nil
}

var (
	gzipMagic   = []byte{0x1f, 0x8b}
	sqliteMagic = []byte("SQLite format 3\x00")
)

// sniffBytes is how much of the start of a file tells an XML book.
const sniffBytes = 4096

// open tells the book's format by its first bytes, not its name (GnuCash
// names both kinds .gnucash), and checks that GnuCash has not locked it.
func (s *Source) open(ctx context.Context) (loader, error) {
	f, err := os.Open(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fetchError(err, "GnuCash book %s does not exist", s.path)
	case err != nil:
		return nil, fetchError(err, "cannot open GnuCash book %s: %v", s.path, reason(err))
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fetchError(nil, "%s is a folder, not a GnuCash book file", s.path)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, err := br.Peek(len(sqliteMagic))
	if err != nil && err != io.EOF {
		f.Close()
		return nil, fetchError(err, "cannot read GnuCash book %s: %v", s.path, reason(err))
	}
	switch {
	case bytes.HasPrefix(head, sqliteMagic):
		f.Close()
		return s.openSQLite(ctx)
	case bytes.HasPrefix(head, gzipMagic):
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fetchError(err, "%s is not a GnuCash book: it starts as a gzip file but cannot be decompressed (%v)", s.path, err)
		}
		l, err := s.openXML(bufio.NewReaderSize(gz, 64<<10), "compressed ")
		if err != nil {
			f.Close()
			return nil, err
		}
		l.closer = func() error { return errors.Join(gz.Close(), f.Close()) }
		return l, nil
	}
	l, err := s.openXML(br, "")
	if err != nil {
		f.Close()
		return nil, err
	}
	l.closer = f.Close
	return l, nil
}

// openXML checks that the XML text r starts as a GnuCash book does and
// that GnuCash's lock file is not beside it.
func (s *Source) openXML(r *bufio.Reader, kind string) (*xmlLoader, error) {
	head, err := r.Peek(sniffBytes)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fetchError(err, "cannot read %sGnuCash book %s: %v", kind, s.path, reason(err))
	}
	if !looksLikeXMLBook(head) {
		return nil, notBook(s.path, head)
	}
	if _, err := os.Stat(s.path + ".LCK"); err == nil {
		return nil, fetchError(nil, "GnuCash has the book %s open (its lock file %s is there): close the book in GnuCash, "+
			"then sync again. If GnuCash is not running, the lock file was left by a crash and can be deleted.",
			s.path, filepath.Base(s.path)+".LCK")
	}
	return &xmlLoader{r: r}, nil
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
		return fetchError(nil, "%s is not a GnuCash book: the file is empty", path)
	case bytes.HasPrefix(t, []byte("<")):
		return fetchError(nil, "%s is not a GnuCash book: it is XML, but not GnuCash's (no <gnc-v2> element at its start)", path)
	}
	return fetchError(nil, "%s is not a GnuCash book: %s, and this file is neither", path, what)
}

func fetchError(err error, format string, args ...any) *source.Error {
	return &source.Error{Status: dataset.FetchError, Message: fmt.Sprintf(format, args...), Err: err}
}

// reason is an error's cause without the path the message already names.
func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
