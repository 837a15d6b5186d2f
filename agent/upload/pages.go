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
	"sync"
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
	// Window, unless nil, is shared by the agent's page writers: each of
	// their requests holds one of its slots while it is made (its retries
	// included), so that together they have no more in flight than the
	// coordinator takes from one agent (protocol.UploadsPerAgent).
	Window *Window
}

// Window bounds the upload requests in flight of the page writers that
// share it: an agent's, whose credential the coordinator holds to
// protocol.UploadsPerAgent requests at once. Without it an agent
// uploading three datasets at once would have 12 pages in flight, and
// the coordinator would answer four of them 429, to be sent again a
// second later.
type Window struct{ slots chan struct{} }

// NewWindow returns a window of n requests at once.
func NewWindow(n int) *Window { return &Window{slots: make(chan struct{}, n)} }

// take waits for a slot, or until ctx ends. A nil window has room for
// every request.
func (win *Window) take(ctx context.Context) error {
	if win == nil {
		return nil
	}
	select {
	case win.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// give returns a slot take took.
func (win *Window) give() {
	if win != nil {
		<-win.slots
	}
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

// PagesInFlight is how many pages a PageWriter has sent and not yet seen
// acknowledged at most (protocol.PagesInFlight): the coordinator's store
// commits pages that arrive together with one sync, and the next page is
// encoded and gzipped while the earlier ones are written.
const PagesInFlight = protocol.PagesInFlight

// PageWriter uploads one dataset's records: Write buffers each as a line
// of NDJSON and, when the page is full, gzips it and sends it while the
// next one fills; Commit waits until every page sent is acknowledged,
// then sends the last page and the commit. At most PagesInFlight pages
// are in flight (each retried on its own as one would be alone), so it
// holds at most PagesInFlight gzipped pages (each at most
// protocol.MaxPageBytes; 300 KiB for a page of 1 MiB of invoices) and
// the page being filled (Options.MaxBytes). The first failed upload
// breaks it: the pages still in flight are abandoned, and the call that
// sees the failure (a Write that fills a page, or Commit) returns it once
// every request the writer started has ended; every later call returns
// it too. Its methods are not safe for concurrent use, except Written;
// Close abandons what is in flight.
type PageWriter struct {
	ctx        context.Context // the requests'; ended by Close
	stop       context.CancelFunc
	client     *retryablehttp.Client
	base       string // the coordinator's URL, without a trailing slash
	credential string
	datasetID  string
	leaseID    string
	opts       Options

	rec     []byte         // the record being written (appendRecord)
	line    bytes.Buffer   // or, when appendRecord cannot, encoded into it
	enc     *json.Encoder  // into line
	page    bytes.Buffer   // the page being filled, uncompressed
	records int            // in page
	sum     hash.Hash      // SHA-256 of the pages sent
	slots   chan struct{}  // one held by each page in flight
	sending sync.WaitGroup // the pages in flight
	failMu  sync.Mutex
	failed  error         // the first page in flight that failed
	broken  chan struct{} // closed with failed set
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
	w := &PageWriter{client: client, base: strings.TrimSuffix(baseURL, "/"),
		credential: credential, datasetID: datasetID, leaseID: leaseID, sum: sha256.New(),
		slots: make(chan struct{}, PagesInFlight), broken: make(chan struct{})}
	w.ctx, w.stop = context.WithCancel(ctx)
	w.enc = json.NewEncoder(&w.line)
	w.enc.SetEscapeHTML(false)
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
	line, ok := appendRecord(w.rec[:0], rec)
	if ok {
		line = append(line, '\n')
		w.rec = line
	} else {
		w.line.Reset()
		if err := w.enc.Encode(rec); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRecord, err)
		}
		line = w.line.Bytes()
	}
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

// Commit waits for the pages in flight, uploads the last page and
// commits the dataset, and returns what it committed: with
// Options.LastPage in one request, otherwise the page then the commit. A
// dataset with no records commits zero pages. After a failed commit call
// Commit again; once it succeeds it returns the same request without
// calling the coordinator.
func (w *PageWriter) Commit() (protocol.CommitRequest, error) {
	if w.commit != nil {
		return *w.commit, nil
	}
	if err := w.drain(); err != nil {
		return protocol.CommitRequest{}, err
	}
	if w.records > 0 && w.opts.LastPage {
		c, err := w.sendLast()
		if err == nil || !errors.Is(err, errNoLastPage) {
			if err == nil {
				w.commit = &c
				w.stop()
			}
			return c, err
		}
	}
	if w.records > 0 {
		if err := w.flush(); err != nil {
			return protocol.CommitRequest{}, err
		}
		if err := w.drain(); err != nil {
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
	w.stop()
	return c, nil
}

// Close abandons the pages in flight, if any, and returns once their
// requests have ended; the writer is of no further use. After Commit
// returned it has nothing to do.
func (w *PageWriter) Close() {
	w.stop()
	w.sending.Wait()
}

// drain waits until every page in flight is acknowledged, or one failed:
// then, once the others' requests ended too, it breaks the writer.
func (w *PageWriter) drain() error {
	w.sending.Wait()
	return w.breakIfFailed()
}

// breakIfFailed breaks the writer with the failure of a page in flight,
// once every request in flight has ended, and returns what broke it.
func (w *PageWriter) breakIfFailed() error {
	if w.err != nil {
		return w.err
	}
	w.failMu.Lock()
	err := w.failed
	w.failMu.Unlock()
	if err != nil {
		w.sending.Wait() // the failure ended the others' context
		w.err = err
	}
	return w.err
}

// fail records the first failure of a page in flight and abandons the
// others.
func (w *PageWriter) fail(err error) {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	if w.failed == nil {
		w.failed = err
		w.stop()
		close(w.broken)
	}
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
	body, err := w.gzipPage(n)
	if err == nil {
		err = w.put(n, body, w.records, w.page.Len(), &c)
	}
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

// flush gzips the page being filled and sends it, once fewer than
// PagesInFlight pages are in flight. A failure of a page in flight, its
// own or an earlier one's, breaks the writer.
func (w *PageWriter) flush() error {
	if err := w.ensureMapped(); err != nil {
		return err
	}
	select {
	case w.slots <- struct{}{}:
	case <-w.broken:
	}
	if err := w.breakIfFailed(); err != nil {
		return err
	}
	n := w.pages + 1
	body, err := w.gzipPage(n)
	if err != nil {
		<-w.slots
		w.err = fmt.Errorf("upload page %d: %w", n, err)
		return w.err
	}
	records, size := w.records, w.page.Len()
	w.sum.Write(w.page.Bytes())
	w.pages = n
	w.page.Reset()
	w.records = 0
	w.sending.Add(1)
	go func() {
		defer w.sending.Done()
		defer func() { <-w.slots }()
		if err := w.put(n, body, records, size, nil); err != nil {
			w.fail(fmt.Errorf("upload page %d: %w", n, err))
		}
	}()
	return nil
}

// gzipWriters are the gzip writers of every PageWriter of the process: a
// new one allocates about 800 KB of compressor state and takes half a
// millisecond to clear it, more than gzipping a small dataset's page, and
// an agent uploads a page writer's worth of datasets at every sync.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// gzipPage gzips the page being filled, page n. Each page's body is
// its own: the HTTP transport may still read a request's body after the
// response came.
func (w *PageWriter) gzipPage(n int) ([]byte, error) {
	if n > protocol.MaxPages {
		return nil, fmt.Errorf("over %d pages", protocol.MaxPages)
	}
	body := bytes.NewBuffer(make([]byte, 0, w.page.Len()/4+512))
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(body)
	zw.Write(w.page.Bytes()) // into a bytes.Buffer: no error
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if body.Len() > protocol.MaxPageBytes {
		return nil, fmt.Errorf("%d bytes gzipped is over %d", body.Len(), protocol.MaxPageBytes)
	}
	return body.Bytes(), nil
}

// put sends page n, gzipped in body, of records records and size bytes
// uncompressed, or with commit, unless nil, as the last page with that
// commit.
func (w *PageWriter) put(n int, body []byte, records, size int, commit *protocol.CommitRequest) error {
	path := protocol.PagePath(w.datasetID, n)
	if commit != nil {
		path = protocol.LastPagePath(w.datasetID, n)
	}
	req, err := retryablehttp.NewRequestWithContext(w.ctx, http.MethodPut, w.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", protocol.PageContentType)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set(protocol.RecordsHeader, strconv.Itoa(records))
	req.Header.Set(protocol.PageBytesHeader, strconv.Itoa(size))
	if commit != nil {
		req.Header.Set(protocol.CommitRecordsHeader, strconv.Itoa(commit.Records))
		req.Header.Set(protocol.CommitSHA256Header, commit.SHA256)
	}
	return w.send(req)
}

// send makes the request with the agent's credential and lease, in a
// slot of the agent's window; a refusal is a *protocol.Error.
func (w *PageWriter) send(req *retryablehttp.Request) error {
	req.Header.Set("Authorization", "Bearer "+w.credential)
	req.Header.Set(protocol.LeaseHeader, w.leaseID)
	if err := w.opts.Window.take(req.Context()); err != nil {
		return err
	}
	defer w.opts.Window.give()
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
