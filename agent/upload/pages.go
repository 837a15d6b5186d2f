package upload

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
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
// it committed. A dataset with no records commits zero pages. After a
// failed commit call Commit again; once it succeeds it returns the same
// request without calling the coordinator.
func (w *PageWriter) Commit() (protocol.CommitRequest, error) {
	if w.commit != nil {
		return *w.commit, nil
	}
	if w.err != nil {
		return protocol.CommitRequest{}, w.err
	}
	if w.records > 0 {
		if err := w.flush(); err != nil {
			return protocol.CommitRequest{}, err
		}
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

// flush gzips and uploads the page being filled.
func (w *PageWriter) flush() error {
	n := w.pages + 1
	if err := w.upload(n); err != nil {
		w.err = fmt.Errorf("upload page %d: %w", n, err)
		return w.err
	}
	w.sum.Write(w.page.Bytes())
	w.pages = n
	w.page.Reset()
	w.records = 0
	return nil
}

func (w *PageWriter) upload(n int) error {
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
	req, err := retryablehttp.NewRequestWithContext(w.ctx, http.MethodPut, w.base+protocol.PagePath(w.datasetID, n), w.body.Bytes())
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", protocol.PageContentType)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set(protocol.RecordsHeader, strconv.Itoa(w.records))
	req.Header.Set(protocol.PageBytesHeader, strconv.Itoa(w.page.Len()))
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
	return refusal(resp)
}

// refusal reads the coordinator's error from a response that is not a
// success. One without a JSON error body (from a proxy, say) gets the code
// its status implies.
func refusal(resp *http.Response) *protocol.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxMessageBytes))
	var e protocol.Error
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		if e.Message == "" {
			e.Message = resp.Status
		}
		return &e
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
	return &protocol.Error{Code: code, Message: "HTTP " + resp.Status}
}
