package upload

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// Options shape the pages. Zero values take the defaults.
type Options struct {
	// MaxRecords is the most records in a page: default 1000, at most
	// protocol.MaxPageRecords.
	MaxRecords int
	// MaxBytes is the most uncompressed bytes in a page, unless one record
	// alone is bigger: default 1 MiB, at most protocol.MaxPageBytes.
	MaxBytes int
	// LastPage sends the last page with the commit, in one request
	// (protocol.FeatureLastPage: the coordinator's welcome must list it).
	// A coordinator that does not know the request (a replica of an older
	// version behind the same address) answers 404 or 405 without an
	// error body: the writer then sends the page and the commit apart.
	LastPage bool
	// Mapping, unless nil, reports the dataset's move to Mapping, which
	// the caller left to the upload: the writer calls it once, before its
	// first request that does not carry the move itself (every request
	// but a last page that is page 1).
	Mapping func() error
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxRecords == 0 {
		o.MaxRecords = 1000
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 1 << 20
	}
	if o.MaxRecords < 0 || o.MaxRecords > protocol.MaxPageRecords {
		return o, fmt.Errorf("upload: MaxRecords %d is not 1 to %d", o.MaxRecords, protocol.MaxPageRecords)
	}
	if o.MaxBytes < 0 || o.MaxBytes > protocol.MaxPageBytes {
		return o, fmt.Errorf("upload: MaxBytes %d is not 1 to %d", o.MaxBytes, protocol.MaxPageBytes)
	}
	return o, nil
}

// ErrBadRecord wraps the reason Write refuses a record: it does not
// encode to a JSON object with a valid string "id". The fault is in the
// mapping; the writer stays usable.
var ErrBadRecord = errors.New("bad record")

// PageWriter uploads one dataset's records: Write buffers each as a line
// of NDJSON and sends a page when it is full, Commit sends the last page
// and the commit. It holds at most one page in memory. A failed upload
// breaks it: every later call returns that error. Its methods are not
// safe for concurrent use, except Written.
type PageWriter struct {
	ctx        context.Context
	client     *retryablehttp.Client
	base       string // the coordinator's URL, without a trailing slash
	credential string
	datasetID  string
	leaseID    string
	opts       Options

	line    bytes.Buffer  // the record being written
	enc     *json.Encoder // into line
	page    bytes.Buffer  // the page being filled, uncompressed
	records int           // in page
	body    bytes.Buffer  // the page, gzipped
	zw      *gzip.Writer  // into body
	sum     hash.Hash     // SHA-256 of the pages sent
	pages   int           // sent
	written atomic.Int64
	err     error                   // what broke the writer
	commit  *protocol.CommitRequest // once committed
	mapped  bool                    // Options.Mapping was called, or a request carried the move
}

// NewPageWriter returns a writer for dataset datasetID held under leaseID,
// uploading to the coordinator at baseURL with the agent's credential.
// Its requests use ctx. Bad options or URL are returned by the first
// Write or Commit.
func NewPageWriter(ctx context.Context, client *retryablehttp.Client, baseURL, credential, datasetID, leaseID string, opts Options) *PageWriter {
	w := &PageWriter{ctx: ctx, client: client, base: strings.TrimSuffix(baseURL, "/"),
		credential: credential, datasetID: datasetID, leaseID: leaseID, sum: sha256.New()}
	w.enc = json.NewEncoder(&w.line)
	w.enc.SetEscapeHTML(false)
	w.zw = gzip.NewWriter(&w.body)
	w.opts, w.err = opts.withDefaults()
	if u, err := url.Parse(w.base); w.err == nil && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		w.err = fmt.Errorf("upload: coordinator URL %q is not an http or https URL", baseURL)
	}
	return w
}

// Written is how many records Write has taken so far, for progress. It
// is safe to call from any goroutine.
func (w *PageWriter) Written() int { return int(w.written.Load()) }

// Write adds one record, which must encode to a JSON object with a
// string "id", and uploads the page when it is full.
func (w *PageWriter) Write(rec any) error {
	if w.err != nil {
		return w.err
	}
	if w.commit != nil {
		return errors.New("upload: write after commit")
	}
	w.line.Reset()
	if err := w.enc.Encode(rec); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	line := w.line.Bytes()
	if _, err := protocol.RecordID(line[:len(line)-1]); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if w.records > 0 && w.page.Len()+len(line) > w.opts.MaxBytes {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.page.Write(line)
	w.records++
	w.written.Add(1)
	if w.records >= w.opts.MaxRecords {
		return w.flush()
	}
	return nil
}

// Commit uploads the last page and commits the dataset, and returns what
// it committed: with Options.LastPage in one request, otherwise the page
// then the commit. A dataset with no records commits zero pages. After a
// failed commit call Commit again; once it succeeds it returns the same
// request without calling the coordinator.
func (w *PageWriter) Commit() (protocol.CommitRequest, error) {
	if w.commit != nil {
		return *w.commit, nil
	}
	if w.err != nil {
		return protocol.CommitRequest{}, w.err
	}
	if w.records > 0 && w.opts.LastPage {
		c, err := w.sendLast()
		if err == nil || !errors.Is(err, errNoLastPage) {
			if err == nil {
				w.commit = &c
			}
			return c, err
		}
	}
	if w.records > 0 {
		if err := w.flush(); err != nil {
			return protocol.CommitRequest{}, err
		}
	}
	if err := w.ensureMapped(); err != nil {
		return protocol.CommitRequest{}, err
	}
	c := protocol.CommitRequest{LeaseID: w.leaseID, Pages: w.pages, Records: w.Written(),
		SHA256: hex.EncodeToString(w.sum.Sum(nil))}
	body, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	req, err := retryablehttp.NewRequestWithContext(w.ctx, http.MethodPost, w.base+protocol.CommitPath(w.datasetID), body)
	if err != nil {
		return c, fmt.Errorf("commit: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := w.send(req); err != nil {
		return c, fmt.Errorf("commit %d pages: %w", c.Pages, err)
	}
	w.commit = &c
	return c, nil
}

// errNoLastPage: the coordinator does not know the last page's request.
var errNoLastPage = errors.New("the coordinator does not take the last page with the commit")

// sendLast uploads the page being filled as the last, with the commit.
// A failure leaves the writer as it was, to send it again (the
// coordinator takes it again as it takes a commit again); errNoLastPage
// when the coordinator does not know the request.
func (w *PageWriter) sendLast() (protocol.CommitRequest, error) {
	n := w.pages + 1
	if n > 1 {
		if err := w.ensureMapped(); err != nil {
			return protocol.CommitRequest{}, err
		}
	}
	c := protocol.CommitRequest{LeaseID: w.leaseID, Pages: n, Records: w.Written(),
		SHA256: hex.EncodeToString(appendSum(w.sum, w.page.Bytes()))}
	err := w.upload(n, &c)
	if errors.Is(err, errNoRoute) {
		return c, errNoLastPage
	}
	if err != nil {
		return c, fmt.Errorf("upload the last page, %d, with the commit: %w", n, err)
	}
	w.mapped = true
	w.sum.Write(w.page.Bytes())
	w.pages = n
	w.page.Reset()
	w.records = 0
	return c, nil
}

// appendSum is the SHA-256 of what h has taken and then b, leaving h as
// it was.
func appendSum(h hash.Hash, b []byte) []byte {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		panic("upload: sha256 state cannot be copied")
	}
	state, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	c := sha256.New()
	if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic(err)
	}
	c.Write(b)
	return c.Sum(nil)
}

// ensureMapped calls Options.Mapping once, unless a request carried the
// move already.
func (w *PageWriter) ensureMapped() error {
	if w.mapped || w.opts.Mapping == nil {
		return nil
	}
	if err := w.opts.Mapping(); err != nil {
		w.err = err
		return err
	}
	w.mapped = true
	return nil
}

// flush gzips and uploads the page being filled.
func (w *PageWriter) flush() error {
	if err := w.ensureMapped(); err != nil {
		return err
	}
	n := w.pages + 1
	if err := w.upload(n, nil); err != nil {
		w.err = fmt.Errorf("upload page %d: %w", n, err)
		return w.err
	}
	w.sum.Write(w.page.Bytes())
	w.pages = n
	w.page.Reset()
	w.records = 0
	return nil
}

// upload gzips and sends the page being filled as page n, or with
// commit, unless nil, as the last page with that commit.
func (w *PageWriter) upload(n int, commit *protocol.CommitRequest) error {
	if n > protocol.MaxPages {
		return fmt.Errorf("over %d pages", protocol.MaxPages)
	}
	w.body.Reset()
	w.zw.Reset(&w.body)
	w.zw.Write(w.page.Bytes()) // into a bytes.Buffer: no error
	if err := w.zw.Close(); err != nil {
		return err
	}
	if w.body.Len() > protocol.MaxPageBytes {
		return fmt.Errorf("%d bytes gzipped is over %d", w.body.Len(), protocol.MaxPageBytes)
	}
	path := protocol.PagePath(w.datasetID, n)
	if commit != nil {
		path = protocol.LastPagePath(w.datasetID, n)
	}
	req, err := retryablehttp.NewRequestWithContext(w.ctx, http.MethodPut, w.base+path, w.body.Bytes())
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", protocol.PageContentType)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set(protocol.RecordsHeader, strconv.Itoa(w.records))
	req.Header.Set(protocol.PageBytesHeader, strconv.Itoa(w.page.Len()))
	if commit != nil {
		req.Header.Set(protocol.CommitRecordsHeader, strconv.Itoa(commit.Records))
		req.Header.Set(protocol.CommitSHA256Header, commit.SHA256)
	}
	return w.send(req)
}

// send makes the request with the agent's credential and lease; a refusal
// is a *protocol.Error.
func (w *PageWriter) send(req *retryablehttp.Request) error {
	req.Header.Set("Authorization", "Bearer "+w.credential)
	req.Header.Set(protocol.LeaseHeader, w.leaseID)
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	e, fromBody := refusal(resp)
	if !fromBody && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) {
		return fmt.Errorf("%w: %w", errNoRoute, e)
	}
	return e
}

// errNoRoute wraps the refusal of a 404 or 405 without an error body:
// no handler for the request (a coordinator that does not know it),
// rather than the coordinator's own refusal.
var errNoRoute = errors.New("no such request at the coordinator")

// refusal reads the coordinator's error from a response that is not a
// success, and whether it was in the body. One without a JSON error body
// (from a proxy, say) gets the code its status implies.
func refusal(resp *http.Response) (*protocol.Error, bool) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxMessageBytes))
	var e protocol.Error
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		if e.Message == "" {
			e.Message = resp.Status
		}
		return &e, true
	}
	code := protocol.CodeBadMessage
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		code = protocol.CodeUnauthorized
	case s == http.StatusNotFound:
		code = protocol.CodeNotFound
	case s == http.StatusRequestEntityTooLarge:
		code = protocol.CodeTooLarge
	case s == http.StatusTooManyRequests:
		code = protocol.CodeRateLimited
	case s < 400 || s >= 500:
		code = protocol.CodeInternal
	}
	return &protocol.Error{Code: code, Message: "HTTP " + resp.Status}, false
}
