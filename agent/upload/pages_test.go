package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// coordinator is the upload side of the contract, as the coordinator
// keeps it: pages checked and stored once, the commit checked against them.
type coordinator struct {
	t                     *testing.T
	credential, lease, id string

	mu      sync.Mutex
	pages   map[int][]byte // page number -> uncompressed NDJSON
	records map[int][]protocol.PageRecord
	puts    int // page requests that reached the handler
	stores  int // pages stored
	commits []protocol.CommitRequest
	// fault, when set, may answer a request itself (returning true)
	// before the contract does; attempt counts requests to that path.
	fault func(w http.ResponseWriter, r *http.Request, attempt int) bool
	// dropAfterStore, when set, says whether to drop the connection
	// instead of answering, once page n is stored; called under mu.
	dropAfterStore func(n int) bool
	attempts       map[string]int
}

func newCoordinator(t *testing.T) (*coordinator, *httptest.Server) {
	c := &coordinator{t: t, credential: "secret-credential", lease: "lease-1", id: "ds-1",
		pages: map[int][]byte{}, records: map[int][]protocol.PageRecord{}, attempts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /agent/v1/datasets/{id}/pages/{n}", c.put)
	mux.HandleFunc("POST /agent/v1/datasets/{id}/commit", c.commit)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv
}

func refuse(w http.ResponseWriter, status int, code protocol.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(protocol.Error{Code: code, Message: msg})
}

// admit checks what every agent request carries and runs the fault hook.
func (c *coordinator) admit(w http.ResponseWriter, r *http.Request) bool {
	c.mu.Lock()
	c.attempts[r.URL.Path]++
	attempt := c.attempts[r.URL.Path]
	fault := c.fault
	c.mu.Unlock()
	if fault != nil && fault(w, r, attempt) {
		return false
	}
	switch {
	case r.Header.Get("Authorization") != "Bearer "+c.credential:
		refuse(w, http.StatusUnauthorized, protocol.CodeUnauthorized, "credential unknown")
	case r.PathValue("id") != c.id:
		refuse(w, http.StatusNotFound, protocol.CodeNotFound, "no such dataset")
	case r.Header.Get(protocol.LeaseHeader) != c.lease:
		refuse(w, http.StatusConflict, protocol.CodeStaleLease, "the lease no longer holds the dataset")
	default:
		return true
	}
	return false
}

func (c *coordinator) put(w http.ResponseWriter, r *http.Request) {
	if !c.admit(w, r) {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > protocol.MaxPages {
		refuse(w, http.StatusBadRequest, protocol.CodeBadMessage, "bad page number")
		return
	}
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != protocol.PageContentType {
		refuse(w, http.StatusUnsupportedMediaType, protocol.CodeBadMessage, "want gzip NDJSON")
		return
	}
	// The agent declares each page's size, so that the coordinator sets
	// aside no more than that to expand it.
	size, err := strconv.Atoi(r.Header.Get(protocol.PageBytesHeader))
	if err != nil {
		refuse(w, http.StatusBadRequest, protocol.CodeBadMessage, "no "+protocol.PageBytesHeader)
		return
	}
	page, err := protocol.DecodeSizedPage(http.MaxBytesReader(w, r.Body, protocol.MaxPageBytes), size)
	if err != nil {
		refuse(w, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return
	}
	if got := r.Header.Get(protocol.RecordsHeader); got != strconv.Itoa(len(page.Records)) {
		refuse(w, http.StatusBadRequest, protocol.CodeBadMessage, fmt.Sprintf("%s %s, page holds %d", protocol.RecordsHeader, got, len(page.Records)))
		return
	}
	c.mu.Lock()
	c.puts++
	stored, again := c.pages[n]
	if !again {
		c.pages[n], c.records[n] = page.Raw, page.Records
		c.stores++
	}
	drop := c.dropAfterStore != nil && c.dropAfterStore(n) // pages arrive at once
	c.mu.Unlock()
	if again && !bytes.Equal(stored, page.Raw) {
		refuse(w, http.StatusConflict, protocol.CodeBadMessage, "page differs from the one stored")
		return
	}
	if drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			c.t.Error(err)
			return
		}
		conn.Close() // stored, but the agent never hears so
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (c *coordinator) commit(w http.ResponseWriter, r *http.Request) {
	if !c.admit(w, r) {
		return
	}
	var req protocol.CommitRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, protocol.MaxMessageBytes)).Decode(&req); err != nil {
		refuse(w, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return
	}
	if err := req.Validate(); err != nil {
		refuse(w, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := sha256.New()
	records := 0
	for n := 1; n <= req.Pages; n++ {
		raw, ok := c.pages[n]
		if !ok {
			refuse(w, http.StatusConflict, protocol.CodeBadMessage, fmt.Sprintf("page %d missing", n))
			return
		}
		sum.Write(raw)
		records += len(c.records[n])
	}
	switch {
	case len(c.pages) != req.Pages:
		refuse(w, http.StatusConflict, protocol.CodeBadMessage, fmt.Sprintf("%d pages stored, %d committed", len(c.pages), req.Pages))
	case records != req.Records:
		refuse(w, http.StatusConflict, protocol.CodeBadMessage, fmt.Sprintf("%d records stored, %d committed", records, req.Records))
	case hex.EncodeToString(sum.Sum(nil)) != req.SHA256:
		refuse(w, http.StatusConflict, protocol.CodeBadMessage, "checksum differs")
	default:
		c.commits = append(c.commits, req)
		w.WriteHeader(http.StatusOK)
	}
}

// ids lists the ids stored, in page and line order.
func (c *coordinator) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for n := 1; n <= len(c.records); n++ {
		for _, r := range c.records[n] {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// testClient is NewHTTPClient with the waits it computes recorded, not
// slept: the tests check what it would wait and that it retried.
func testClient(t *testing.T, logger *slog.Logger) (*retryablehttp.Client, func() []time.Duration) {
	c := NewHTTPClient(logger, nil)
	var mu sync.Mutex
	var waits []time.Duration
	c.Backoff = func(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
		d := backoff(lo, hi, attempt, resp)
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return 0
	}
	return c, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return waits
	}
}

func (c *coordinator) writer(t *testing.T, srv *httptest.Server, client *retryablehttp.Client, opts Options) *PageWriter {
	return NewPageWriter(t.Context(), client, srv.URL+"/", c.credential, c.id, c.lease, opts)
}

type invoice struct {
	ID          string      `json:"id"`
	Note        string      `json:"note"`
	TotalAmount json.Number `json:"totalAmount"`
}

func writeInvoices(t *testing.T, w *PageWriter, n int) {
	t.Helper()
	for i := range n {
		if err := w.Write(invoice{ID: fmt.Sprintf("inv-%05d", i), Note: "<b>& co</b>", TotalAmount: "1234.50"}); err != nil {
			t.Fatalf("Write record %d: %v", i, err)
		}
	}
}

func TestUploadPagesAndCommit(t *testing.T) {
	c, srv := newCoordinator(t)
	client, _ := testClient(t, nil)
	w := c.writer(t, srv, client, Options{MaxRecords: 1000})
	writeInvoices(t, w, 2500)
	if got := w.Written(); got != 2500 {
		t.Errorf("Written() = %d, want 2500", got)
	}
	got, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if got.Pages != 3 || got.Records != 2500 || got.LeaseID != c.lease {
		t.Errorf("commit = %+v, want 3 pages, 2500 records", got)
	}
	if len(c.commits) != 1 || c.commits[0] != got {
		t.Errorf("coordinator got commits %+v, want [%+v]", c.commits, got)
	}
	ids := c.ids()
	if len(ids) != 2500 || ids[0] != "inv-00000" || ids[2499] != "inv-02499" {
		t.Errorf("coordinator stored %d ids, %v…", len(ids), ids[:min(3, len(ids))])
	}
	line := string(c.records[1][0].JSON)
	if want := `{"id":"inv-00000","note":"<b>& co</b>","totalAmount":1234.50}`; line != want {
		t.Errorf("record = %s, want %s (no HTML escaping, exact amount)", line, want)
	}
	if again, err := w.Commit(); err != nil || again != got || len(c.commits) != 1 {
		t.Errorf("second Commit = %+v, %v after %d commits; want the same, no new call", again, err, len(c.commits))
	}
	if err := w.Write(invoice{ID: "late"}); err == nil {
		t.Error("Write after Commit succeeded")
	}
}

func TestPagesBoundedByBytes(t *testing.T) {
	c, srv := newCoordinator(t)
	client, _ := testClient(t, nil)
	w := c.writer(t, srv, client, Options{MaxBytes: 10 << 10})
	big := strings.Repeat("x", 1000)
	for i := range 100 {
		if err := w.Write(map[string]any{"id": strconv.Itoa(i), "note": big}); err != nil {
			t.Fatal(err)
		}
	}
	// One record alone over MaxBytes still goes, in a page of its own.
	if err := w.Write(map[string]any{"id": "huge", "note": strings.Repeat("y", 20<<10)}); err != nil {
		t.Fatal(err)
	}
	got, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	for n, raw := range c.pages {
		if len(raw) > 10<<10 && len(c.records[n]) > 1 {
			t.Errorf("page %d: %d bytes in %d records, over MaxBytes", n, len(raw), len(c.records[n]))
		}
	}
	if got.Records != 101 || got.Pages < 11 {
		t.Errorf("commit = %+v, want 101 records in at least 11 pages", got)
	}
}

func TestEmptyDatasetCommitsZeroPages(t *testing.T) {
	c, srv := newCoordinator(t)
	client, _ := testClient(t, nil)
	got, err := c.writer(t, srv, client, Options{}).Commit()
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	want := protocol.CommitRequest{LeaseID: c.lease, SHA256: hex.EncodeToString(empty[:])}
	if got != want || c.puts != 0 {
		t.Errorf("commit = %+v after %d pages, want %+v after none", got, c.puts, want)
	}
}

func TestStaleLeaseIsNotRetried(t *testing.T) {
	c, srv := newCoordinator(t)
	client, waits := testClient(t, nil)
	w := NewPageWriter(t.Context(), client, srv.URL, c.credential, c.id, "lease-0", Options{MaxRecords: 1})
	if err := w.Write(invoice{ID: "a"}); err != nil {
		t.Fatalf("Write = %v, want the page sent, its answer not awaited", err)
	}
	_, err := w.Commit()
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeStaleLease {
		t.Fatalf("Commit = %v, want a *protocol.Error with %s", err, protocol.CodeStaleLease)
	}
	if n := c.attempts[protocol.PagePath(c.id, 1)]; n != 1 || len(waits()) != 0 {
		t.Errorf("%d attempts, %d waits, want 1 attempt", n, len(waits()))
	}
	if err2 := w.Write(invoice{ID: "b"}); err2 != err {
		t.Errorf("Write after a failed upload = %v, want the same error %v", err2, err)
	}
	if _, err2 := w.Commit(); err2 != err {
		t.Errorf("Commit after a failed upload = %v, want the same error", err2)
	}
}

func TestUnavailableThenOKIsRetried(t *testing.T) {
	c, srv := newCoordinator(t)
	c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		if attempt > 1 {
			return false
		}
		refuse(w, http.StatusServiceUnavailable, protocol.CodeInternal, "starting")
		return true
	}
	client, waits := testClient(t, nil)
	w := c.writer(t, srv, client, Options{MaxRecords: 2})
	writeInvoices(t, w, 3)
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	// Each path failed once: pages 1 and 2 and the commit.
	if c.stores != 2 || len(c.commits) != 1 || len(waits()) != 3 {
		t.Errorf("%d pages stored, %d commits, %d retries; want 2, 1, 3", c.stores, len(c.commits), len(waits()))
	}
	for _, d := range waits() {
		if d < retryWaitMin || d > retryWaitMax {
			t.Errorf("waited %v, want %v to %v", d, retryWaitMin, retryWaitMax)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	c, srv := newCoordinator(t)
	c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		if attempt > 1 {
			return false
		}
		w.Header().Set("Retry-After", "30")
		refuse(w, http.StatusTooManyRequests, protocol.CodeRateLimited, "slow down")
		return true
	}
	client, waits := testClient(t, nil)
	w := c.writer(t, srv, client, Options{})
	writeInvoices(t, w, 1)
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got := waits()
	if len(got) != 2 || c.stores != 1 {
		t.Fatalf("waits %v, %d pages stored; want a retry of the page and of the commit", got, c.stores)
	}
	for _, d := range got {
		if d < 30*time.Second || d > 33*time.Second {
			t.Errorf("waited %v after Retry-After: 30, want 30 s plus up to a tenth", d)
		}
	}
}

func TestDroppedResponseResendsPage(t *testing.T) {
	c, srv := newCoordinator(t)
	dropped := map[int]bool{}
	c.dropAfterStore = func(n int) bool {
		first := !dropped[n]
		dropped[n] = true
		return first
	}
	client, _ := testClient(t, nil)
	w := c.writer(t, srv, client, Options{MaxRecords: 10})
	writeInvoices(t, w, 25)
	got, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if c.stores != 3 || c.puts < 6 || got.Pages != 3 || len(c.commits) != 1 {
		t.Errorf("%d stores of %d puts, commit %+v; want each of 3 pages sent twice and stored once", c.stores, c.puts, got)
	}
}

func TestGivesUpWithTheServersError(t *testing.T) {
	c, srv := newCoordinator(t)
	c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		refuse(w, http.StatusServiceUnavailable, protocol.CodeInternal, "store down")
		return true
	}
	client, waits := testClient(t, nil)
	client.RetryMax = 2
	_, err := c.writer(t, srv, client, Options{}).Commit()
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeInternal || perr.Message != "store down" {
		t.Errorf("Commit = %v, want the coordinator's internal error", err)
	}
	if len(waits()) != 2 {
		t.Errorf("%d retries, want 2", len(waits()))
	}
}

func TestRefusalWithoutJSON(t *testing.T) {
	tests := []struct {
		status int
		want   protocol.Code
	}{
		{http.StatusNotFound, protocol.CodeNotFound},
		{http.StatusForbidden, protocol.CodeUnauthorized},
		{http.StatusRequestEntityTooLarge, protocol.CodeTooLarge},
		{http.StatusBadRequest, protocol.CodeBadMessage},
		{http.StatusMovedPermanently, protocol.CodeInternal},
		{http.StatusNotImplemented, protocol.CodeInternal},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "/elsewhere")
			http.Error(w, "<html>proxy says no</html>", tt.status)
		}))
		client, waits := testClient(t, nil)
		_, err := NewPageWriter(t.Context(), client, srv.URL, "c", "d", "l", Options{}).Commit()
		srv.Close()
		var perr *protocol.Error
		if !errors.As(err, &perr) || perr.Code != tt.want || !strings.Contains(perr.Message, strconv.Itoa(tt.status)) {
			t.Errorf("HTTP %d: Commit = %v, want %s naming the status", tt.status, err, tt.want)
		}
		if len(waits()) != 0 {
			t.Errorf("HTTP %d retried", tt.status)
		}
	}
}

func TestBadRecords(t *testing.T) {
	c, srv := newCoordinator(t)
	client, _ := testClient(t, nil)
	w := c.writer(t, srv, client, Options{})
	bad := []any{
		map[string]any{"name": "no id"},
		map[string]any{"id": 7},
		map[string]any{"id": ""},
		map[string]any{"id": strings.Repeat("i", 257)},
		"a string",
		[]any{map[string]any{"id": "in an array"}},
		map[string]any{"id": "x", "f": func() {}},
		map[string]any{"id": "x", "n": json.Number("1,5")},
	}
	for _, rec := range bad {
		if err := w.Write(rec); !errors.Is(err, ErrBadRecord) {
			t.Errorf("Write(%#v) = %v, want ErrBadRecord", rec, err)
		}
	}
	if err := w.Write(map[string]any{"id": "good"}); err != nil {
		t.Errorf("Write after bad records: %v", err)
	}
	if got, err := w.Commit(); err != nil || got.Records != 1 {
		t.Errorf("Commit = %+v, %v, want 1 record", got, err)
	}
}

func TestBadSetup(t *testing.T) {
	client, _ := testClient(t, nil)
	tests := map[string]struct {
		url  string
		opts Options
	}{
		"too many records": {"http://x", Options{MaxRecords: protocol.MaxPageRecords + 1}},
		"too many bytes":   {"http://x", Options{MaxBytes: protocol.MaxPageBytes + 1}},
		"no scheme":        {"coordinator:8080", Options{}},
		"websocket URL":    {"wss://x", Options{}},
	}
	for name, tt := range tests {
		w := NewPageWriter(t.Context(), client, tt.url, "c", "d", "l", tt.opts)
		if err := w.Write(invoice{ID: "a"}); err == nil {
			t.Errorf("%s: Write succeeded", name)
		}
	}
}

func TestCancelStopsUpload(t *testing.T) {
	c, srv := newCoordinator(t)
	c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		refuse(w, http.StatusServiceUnavailable, protocol.CodeInternal, "busy")
		return true
	}
	ctx, cancel := context.WithCancel(t.Context())
	client := NewHTTPClient(nil, nil)
	client.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration {
		cancel() // the agent stops while the upload waits to retry
		return time.Hour
	}
	w := NewPageWriter(ctx, client, srv.URL, c.credential, c.id, c.lease, Options{MaxRecords: 1})
	if err := w.Write(invoice{ID: "a"}); err != nil {
		t.Fatalf("Write = %v, want the page sent, its answer not awaited", err)
	}
	if _, err := w.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit = %v, want context.Canceled", err)
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, srv := newCoordinator(t)
	c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		if attempt > 1 {
			return false
		}
		refuse(w, http.StatusBadGateway, protocol.CodeInternal, "retry me")
		return true
	}
	client, _ := testClient(t, logger)
	w := c.writer(t, srv, client, Options{})
	writeInvoices(t, w, 3)
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "retrying request") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}
	for _, secret := range []string{c.credential, "Authorization", "inv-00001", "1234.50"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs hold %q:\n%s", secret, logs.String())
		}
	}
}

// TestPageWritersShareGzipState: each dataset has a PageWriter of its own,
// and a small dataset is one page; a gzip writer's state (about 800 KB)
// made anew for each would be most of what the agent allocates for it.
// The pages still read back as written.
func TestPageWritersShareGzipState(t *testing.T) {
	const writers = 100
	rec := `{"id":"c-1","customerName":"Customer 1","status":"Active"}` + "\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range writers {
		w := NewPageWriter(t.Context(), nil, "http://127.0.0.1:1", "credential", fmt.Sprint("ds-", i), "lease", Options{})
		w.page.WriteString(rec)
		body, err := w.gzipPage(1)
		if err != nil {
			t.Fatal(err)
		}
		p, err := protocol.DecodePage(bytes.NewReader(body))
		if err != nil || string(p.Raw) != rec {
			t.Fatalf("page %d reads back %q, %v", i, p.Raw, err)
		}
	}
	runtime.ReadMemStats(&after)
	// The race detector's pool drops a quarter of what is put back.
	if per := (after.TotalAlloc - before.TotalAlloc) / writers; per > 400<<10 {
		t.Errorf("%d KiB allocated a page writer's page, want under 400 (a gzip writer's state is about 800)", per>>10)
	}
}

// BenchmarkSmallDatasetPage is the agent's cost of a small dataset's page:
// a page writer of its own, 10 records, the page gzipped. Its B/op is
// what TestPageWritersShareGzipState bounds.
func BenchmarkSmallDatasetPage(b *testing.B) {
	type customer struct {
		ID     string `json:"id"`
		Name   string `json:"customerName"`
		Status string `json:"status"`
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w := NewPageWriter(b.Context(), nil, "http://127.0.0.1:1", "credential", fmt.Sprint("ds-", i), "lease", Options{})
		for r := range 10 {
			if err := w.Write(customer{ID: fmt.Sprint("C", r), Name: "Customer", Status: "Active"}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.gzipPage(1); err != nil {
			b.Fatal(err)
		}
	}
}
