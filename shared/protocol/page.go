package protocol

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"unicode"

	"github.com/ferry-sync/ferry/shared/ndjson"
)

// The data plane. An agent uploads a dataset's records in pages numbered
// from 1: PUT DatasetsPath+{id}/pages/{n}, the body gzip-compressed NDJSON
// (one standard-model record, a JSON object with a string "id", per line),
// with the lease in LeaseHeader, the page's record count in RecordsHeader
// and its size uncompressed in PageBytesHeader. The coordinator checks the
// lease before it reads the body, then sets that much memory aside for the
// page (MaxPageExpandedBytes without the header: fewer such pages are
// decoded at once) and refuses a page of another size. Uploading a page
// again is acknowledged, not stored twice.
// Then it POSTs a CommitRequest to DatasetsPath+{id}/commit; committing
// again is acknowledged too. Any 2xx is success. A refusal is a 4xx (5xx for
// a fault on the coordinator's side, which the agent retries) whose JSON
// body is an Error, its Code saying why: CodeStaleLease, the agent drops the
// work; CodeUnauthorized, CodeNotFound, CodeBadMessage, CodeTooLarge.

// The last page with the commit (FeatureLastPage). An agent whose
// hello lists FeatureLastPage, answered by a welcome that lists it too,
// may send its upload's last page and the commit in one request: PUT
// LastPagePath(id, n), the page as PUT PagePath would send it (body and
// headers), with the commit's records and SHA-256 (as CommitRequest's;
// its Pages is n) in CommitRecordsHeader and CommitSHA256Header. When n
// is 1 the request is also the agent's move to Mapping, which it then
// does not report: the dataset may still be Fetching under the lease.
// The answer is the commit's. Sent again, it is acknowledged as a commit
// sent again is. An agent with warnings for its Mapping report (the
// report carries them) reports Mapping itself first.
const (
	// FeatureLastPage is listed in a hello by an agent that may send its
	// last page with the commit, and in a welcome by a coordinator that
	// takes it.
	FeatureLastPage = "lastPage"
	// CommitRecordsHeader is the upload's record count, every page's.
	CommitRecordsHeader = "X-Ferry-Commit-Records"
	// CommitSHA256Header is CommitRequest's SHA256 of every page.
	CommitSHA256Header = "X-Ferry-Commit-Sha256"
)

// LastPagePath is the path the last page, n, of a dataset is uploaded to
// with the commit.
func LastPagePath(datasetID string, n int) string {
	return PagePath(datasetID, n) + "/commit"
}

// PageContentType is the Content-Type of an uploaded page; its
// Content-Encoding is gzip.
const PageContentType = "application/x-ndjson"

// MaxRecordIDBytes bounds a record's "id".
const MaxRecordIDBytes = 256

// ErrBadPage wraps every reason DecodePage refuses a page.
var ErrBadPage = errors.New("bad page")

// PagePath is the path page n of a dataset is uploaded to.
func PagePath(datasetID string, n int) string {
	return DatasetsPath + url.PathEscape(datasetID) + "/pages/" + strconv.Itoa(n)
}

// CommitPath is the path a dataset's upload is committed at.
func CommitPath(datasetID string) string {
	return DatasetsPath + url.PathEscape(datasetID) + "/commit"
}

// CommitRequest ends an upload: how many pages and records were sent, and
// SHA256, the lower-case hex SHA-256 of the uncompressed NDJSON of pages 1
// to Pages concatenated in order. A dataset with no records commits Pages 0
// and the SHA-256 of nothing.
type CommitRequest struct {
	LeaseID string `json:"leaseId"`
	Pages   int    `json:"pages"`
	Records int    `json:"records"`
	SHA256  string `json:"sha256"`
}

// Validate checks the request's fields are within bounds and agree with
// each other: every page holds 1 to MaxPageRecords records.
func (c *CommitRequest) Validate() error {
	if err := checkID("leaseId", c.LeaseID); err != nil {
		return err
	}
	if c.Pages < 0 || c.Pages > MaxPages {
		return fmt.Errorf("pages must be 0 to %d", MaxPages)
	}
	if c.Records < c.Pages || c.Records > c.Pages*MaxPageRecords {
		return fmt.Errorf("%d records cannot fill %d pages", c.Records, c.Pages)
	}
	if len(c.SHA256) != 64 {
		return errors.New("sha256 must be 64 hex digits")
	}
	for _, r := range c.SHA256 {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return errors.New("sha256 must be lower-case hex")
		}
	}
	return nil
}

// Page is one decoded upload page.
type Page struct {
	Records []PageRecord
	// Raw is the page's uncompressed NDJSON, exactly as sent: what the
	// commit's checksum covers.
	Raw []byte
}

// PageRecord is one line of a page: the record's id and its JSON object,
// which starts at Raw[Offset].
type PageRecord struct {
	ID     string
	JSON   json.RawMessage
	Offset int
}

// DecodePage reads and checks one gzip-compressed NDJSON page: at most
// MaxPageBytes compressed and MaxPageExpandedBytes uncompressed, 1 to
// MaxPageRecords lines, each a record RecordID accepts, no empty line and
// no id twice. It reads line by line and stops at the first fault, so a
// gzip bomb fails after at most a limit's worth of output. Every error
// wraps ErrBadPage and names the line at fault.
func DecodePage(r io.Reader) (Page, error) {
	return decodePage(r, 0)
}

// DecodeSizedPage is DecodePage for a page its sender declared to be size
// bytes uncompressed (PageBytesHeader), 1 to MaxPageExpandedBytes: it
// allocates that much once, expands at most one byte more, and refuses a
// page of any other size.
func DecodeSizedPage(r io.Reader, size int) (Page, error) {
	if size < 1 || size > MaxPageExpandedBytes {
		return Page{}, fmt.Errorf("%w: declared size %d is not 1 to %d bytes", ErrBadPage, size, MaxPageExpandedBytes)
	}
	return decodePage(r, size)
}

// decodePage decodes a page of size bytes uncompressed, or of any size up
// to MaxPageExpandedBytes when size is 0.
func decodePage(r io.Reader, size int) (Page, error) {
	zr, err := gzip.NewReader(&capReader{r: r, left: MaxPageBytes})
	if err != nil {
		return Page{}, badPage(0, err)
	}
	defer zr.Close()
	limit, raw := MaxPageExpandedBytes, []byte(nil)
	if size > 0 {
		limit, raw = size, make([]byte, 0, size+1)
	}
	// One byte past the limit tells a page over it; no more is expanded.
	br := bufio.NewReaderSize(io.LimitReader(zr, int64(limit)+1), 16<<10)
	var (
		spans []span
		lines = map[string]int{} // id -> line
	)
	for line := 1; ; line++ {
		start := len(raw)
		raw, err = ndjson.AppendLine(br, raw, MaxRecordBytes, limit+1)
		if len(raw) > limit && !errors.Is(err, ndjson.ErrLineTooLong) {
			err = errExpanded
		}
		if errors.Is(err, errExpanded) && size > 0 {
			return Page{}, fmt.Errorf("%w: over its declared %d bytes uncompressed", ErrBadPage, size)
		}
		if err != nil && err != io.EOF {
			return Page{}, badPage(line, err)
		}
		if len(raw) == start {
			break // the end, after a final newline
		}
		sp, lerr := checkLine(raw, start, line, lines)
		if lerr != nil {
			return Page{}, fmt.Errorf("%w: line %d: %v", ErrBadPage, line, lerr)
		}
		spans = append(spans, sp)
		if err == io.EOF {
			break // the end, without a final newline
		}
	}
	switch {
	case len(spans) == 0:
		return Page{}, fmt.Errorf("%w: no records", ErrBadPage)
	case size > 0 && len(raw) != size:
		return Page{}, fmt.Errorf("%w: %d bytes uncompressed, not the %d declared", ErrBadPage, len(raw), size)
	}
	p := Page{Raw: raw, Records: make([]PageRecord, len(spans))}
	for i, sp := range spans {
		p.Records[i] = PageRecord{ID: sp.id, JSON: raw[sp.start:sp.end:sp.end], Offset: sp.start}
	}
	return p, nil
}

// span is a record's id and where its JSON is in the page.
type span struct {
	id         string
	start, end int
}

// checkLine checks line number line, raw[start:], given the ids of the
// lines before it.
func checkLine(raw []byte, start, line int, lines map[string]int) (span, error) {
	if line > MaxPageRecords {
		return span{}, fmt.Errorf("over %d records", MaxPageRecords)
	}
	rec := ndjson.Trim(raw[start:])
	if len(rec) == 0 {
		return span{}, errors.New("empty line")
	}
	s := start + cap(raw[start:]) - cap(rec) // rec is raw[s:e]
	e := s + len(rec)
	id, err := RecordID(rec)
	if err != nil {
		return span{}, err
	}
	if first, dup := lines[id]; dup {
		return span{}, fmt.Errorf("id %q already on line %d", id, first)
	}
	lines[id] = line
	return span{id, s, e}, nil
}

// ErrPageTooLarge is wrapped (with ErrBadPage) by the refusal of a page
// over MaxPageBytes compressed or MaxPageExpandedBytes uncompressed.
var ErrPageTooLarge = errors.New("page over the size limit")

var (
	errCompressed = fmt.Errorf("%w: over %d bytes compressed", ErrPageTooLarge, MaxPageBytes)
	errExpanded   = fmt.Errorf("%w: over %d bytes uncompressed", ErrPageTooLarge, MaxPageExpandedBytes)
)

// badPage describes a failure to read the page, at line.
func badPage(line int, err error) error {
	switch {
	case errors.Is(err, ndjson.ErrLineTooLong):
		return fmt.Errorf("%w: line %d: over %d bytes", ErrBadPage, line, MaxRecordBytes)
	case errors.Is(err, errCompressed), errors.Is(err, errExpanded):
		return fmt.Errorf("%w: %w", ErrBadPage, err)
	case err == io.EOF:
		return fmt.Errorf("%w: empty body", ErrBadPage)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: gzip stream cut short", ErrBadPage)
	}
	return fmt.Errorf("%w: gzip: %v", ErrBadPage, err)
}

// CheckRecordID checks a record's id: 1 to MaxRecordIDBytes bytes, no
// control characters.
func CheckRecordID(id string) error {
	if id == "" || len(id) > MaxRecordIDBytes {
		return fmt.Errorf(`"id" must be 1 to %d bytes`, MaxRecordIDBytes)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf(`"id" %q holds a control character`, id)
		}
	}
	return nil
}

// capReader reads from r and fails with errCompressed once more than left
// bytes come through.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errCompressed
	}
	return n, err
}
