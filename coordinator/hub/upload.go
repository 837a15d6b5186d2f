package hub

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// servePage stages one uploaded page: gzip NDJSON under the dataset's lease.
// Everything that can refuse the page without its body (the credential,
// the page number, the lease on the dataset) is checked before a byte of
// it is read; then the page waits for its share of the upload budget, so
// that however many arrive at once, at most Config.UploadMemory bytes of
// pages are expanded in memory.
func (h *Hub) servePage(w http.ResponseWriter, r *http.Request) {
	agent, ds, ok := h.authenticateFor(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	r, end, ok := h.startUpload(w, r, agent.ID)
	if !ok {
		return
	}
	defer end()
	n, size, ok := h.admitPage(w, r, agent, ds)
	if !ok {
		return
	}
	page, release, ok := h.readPage(w, r, agent.ID, n, size)
	if !ok {
		return
	}
	defer release()
	id := r.PathValue("id")
	err := h.st.PutPage(r.Context(), store.Page{
		AgentID: agent.ID, DatasetID: id, LeaseID: r.Header.Get(protocol.LeaseHeader),
		N: n, Records: len(page.Records), Data: page.Raw, Lines: pageLines(page),
	})
	if err != nil {
		h.refuseHTTP(w, agent.ID, "upload page", id, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"page": n, "records": len(page.Records)})
}

// admitPage checks what an upload of the authenticated agent says before
// its body: the page number, the declared size (0 when not given) and that
// the agent may upload to the dataset under the lease it names. A refusal
// is answered, the body unread.
func (h *Hub) admitPage(w http.ResponseWriter, r *http.Request, agent store.Agent, ds agentsDataset) (n, size int, ok bool) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > protocol.MaxPages {
		refuseUnread(w, r, http.StatusBadRequest, protocol.CodeBadMessage, "page number must be 1 to "+strconv.Itoa(protocol.MaxPages))
		return 0, 0, false
	}
	if size, err = declaredSize(r.Header); err != nil {
		refuseUnread(w, r, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return 0, 0, false
	}
	id := r.PathValue("id")
	if err := uploadable(ds, agent.ID, id, r.Header.Get(protocol.LeaseHeader)); err != nil {
		closeUnread(w, r)
		h.refuseHTTP(w, agent.ID, "upload page", id, err)
		return 0, 0, false
	}
	return n, size, true
}

// declaredSize reads a page's PageBytesHeader: 0 when absent.
func declaredSize(h http.Header) (int, error) {
	v := h.Get(protocol.PageBytesHeader)
	if v == "" {
		return 0, nil
	}
	size, err := strconv.Atoi(v)
	if err != nil || size < 1 || size > protocol.MaxPageExpandedBytes {
		return 0, fmt.Errorf("%s must be 1 to %d", protocol.PageBytesHeader, protocol.MaxPageExpandedBytes)
	}
	return size, nil
}

// uploadable checks, as PutPage will again, that the agent may upload to
// the dataset, as read with its credential, under lease: ErrNotFound if its
// connection is not the agent's, ErrStaleLease if the lease no longer
// holds it, ErrTransition if it is not Mapping.
func uploadable(ds agentsDataset, agentID, datasetID, lease string) error {
	d := ds.d
	switch {
	case ds.err != nil:
		return ds.err
	case lease == "" || d.LeaseID != lease || d.LeaseAgent != agentID:
		return fmt.Errorf("page of dataset %s: %w", datasetID, store.ErrStaleLease)
	case d.Status != dataset.Mapping:
		return fmt.Errorf("page of dataset %s (%s): %w", datasetID, d.Status, store.ErrTransition)
	}
	return nil
}

// decodeBody decodes an uploaded page, of the declared size unless 0,
// and returns it with the bytes read (compressed).
func decodeBody(r io.Reader, size int) (protocol.Page, int64, error) {
	body := &countingReader{r: r}
	var page protocol.Page
	var err error
	if size > 0 {
		page, err = protocol.DecodeSizedPage(body, size)
	} else {
		page, err = protocol.DecodePage(body)
	}
	return page, body.n, err
}

// refuseUnread answers a call whose body was not read.
func refuseUnread(w http.ResponseWriter, r *http.Request, status int, code protocol.Code, msg string) {
	closeUnread(w, r)
	writeErr(w, status, code, msg)
}

// closeUnread, before a refusal of a call whose body was not read, has
// the connection closed after the answer rather than the rest of the body
// read to keep it (an agent that waits for 100 Continue sends none).
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// uploadSlotTTL is how long an upload request holds its agent's slot at
// most: longer than the HTTP server's ReadTimeout (2 minutes), which
// bounds reading its body, and the request's context ends then, so no
// request runs past its slot. A slot its replica never returned (killed)
// is free again after it.
const uploadSlotTTL = 3 * time.Minute

// startUpload takes one of the agent's upload slots in the store, or
// answers 429 when it holds UploadsPerAgent already, whichever replicas
// its requests went to: one credential cannot hold more of the
// coordinators' connections and memory than its uploads need (an
// agent's page writers share a window of protocol.UploadsPerAgent
// requests, so an agent meets the bound only when it is set lower). The
// agent's HTTP client retries after Retry-After. It returns the request
// to go on with, whose context ends with the slot, and the function that
// ends the upload.
func (h *Hub) startUpload(w http.ResponseWriter, r *http.Request, agentID string) (*http.Request, func(), bool) {
	started := time.Now()
	token, err := h.st.TakeUploadSlot(r.Context(), agentID, h.cfg.UploadsPerAgent, h.now(), uploadSlotTTL)
	if err != nil {
		closeUnread(w, r)
		h.refuseHTTP(w, agentID, "upload slot", r.PathValue("id"), err)
		return nil, nil, false
	}
	if token == "" {
		w.Header().Set("Retry-After", "1")
		refuseUnread(w, r, http.StatusTooManyRequests, protocol.CodeRateLimited,
			"too many uploads at once for this agent (at most "+strconv.Itoa(h.cfg.UploadsPerAgent)+")")
		return nil, nil, false
	}
	ctx, cancel := context.WithDeadline(r.Context(), started.Add(uploadSlotTTL))
	return r.WithContext(ctx), func() {
		cancel()
		// Not the request's context: it may have ended.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.st.ReturnUploadSlot(ctx, agentID, token); err != nil {
			h.log.Warn("return an upload slot: it frees itself later", "agent", agentID, "err", err)
		}
	}, true
}

// pageLines are the ids and places of a decoded page's records, stored
// with the page so that publishing it parses none of them again.
func pageLines(p protocol.Page) []store.Line {
	lines := make([]store.Line, len(p.Records))
	for i, r := range p.Records {
		lines[i] = store.Line{ID: r.ID, Start: r.Offset, End: r.Offset + len(r.JSON)}
	}
	return lines
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// serveCommit checks an upload's counts and checksum against the staged
// pages. A small upload is then validated and ended with its commit, in
// one transaction (Publisher.Commit), and the answer names the status it
// ended in; a larger one moves to Validating and is handed to the
// Publisher's loops.
func (h *Hub) serveCommit(w http.ResponseWriter, r *http.Request) {
	agent, ds, ok := h.authenticateFor(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	r, end, ok := h.startUpload(w, r, agent.ID)
	if !ok {
		return
	}
	defer end()
	var req protocol.CommitRequest
	if err := decodeSmall(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return
	}
	d, done, err := committable(ds, agent.ID, r.PathValue("id"), req.LeaseID, false)
	if err != nil || done {
		h.answerCommit(w, agent.ID, d, err)
		return
	}
	h.commit(w, r, agent.ID, d, req, nil, time.Time{})
}

// serveLastPage takes an upload's last page and its commit in one
// request (protocol.FeatureLastPage): the page is checked as servePage
// checks one, the commit as serveCommit does, and a small upload is staged,
// committed and ended in one transaction; page 1 of a dataset still
// Fetching is the agent's move to Mapping too, at the request's arrival.
// A larger upload goes the long way: Mapping, the page, the commit, each a
// transaction of its own.
func (h *Hub) serveLastPage(w http.ResponseWriter, r *http.Request) {
	mapped := h.now().UTC()
	agent, ds, ok := h.authenticateFor(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	r, end, ok := h.startUpload(w, r, agent.ID)
	if !ok {
		return
	}
	defer end()
	n, size, req, ok := admitLastPage(w, r)
	if !ok {
		return
	}
	d, done, err := committable(ds, agent.ID, r.PathValue("id"), req.LeaseID, n == 1)
	if err != nil || done {
		closeUnread(w, r)
		h.answerCommit(w, agent.ID, d, err)
		return
	}
	if d.Status != dataset.Fetching {
		mapped = time.Time{}
	}
	page, release, ok := h.readPage(w, r, agent.ID, n, size)
	if !ok {
		return
	}
	defer release()
	h.commit(w, r, agent.ID, d, req, &page, mapped)
}

// admitLastPage reads what a last page's request says besides its body:
// the page number, its declared size (0 when not given) and the commit's
// headers. A refusal is answered, the body unread.
func admitLastPage(w http.ResponseWriter, r *http.Request) (n, size int, req protocol.CommitRequest, ok bool) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > protocol.MaxPages {
		refuseUnread(w, r, http.StatusBadRequest, protocol.CodeBadMessage, "page number must be 1 to "+strconv.Itoa(protocol.MaxPages))
		return 0, 0, req, false
	}
	if size, err = declaredSize(r.Header); err != nil {
		refuseUnread(w, r, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return 0, 0, req, false
	}
	records, err := strconv.Atoi(r.Header.Get(protocol.CommitRecordsHeader))
	req = protocol.CommitRequest{LeaseID: r.Header.Get(protocol.LeaseHeader), Pages: n, Records: records,
		SHA256: r.Header.Get(protocol.CommitSHA256Header)}
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		refuseUnread(w, r, http.StatusBadRequest, protocol.CodeBadMessage, "the commit's headers: "+err.Error())
		return 0, 0, req, false
	}
	return n, size, req, true
}

// committable checks the dataset an agent commits under lease, as read
// with its credential. done is a commit sent again (the dataset committed
// under that lease): answer it as it is. Otherwise the lease must hold
// the dataset Mapping, or with fetching, Fetching. Refusals are the
// store's errors.
func committable(ds agentsDataset, agentID, id, lease string, fetching bool) (d store.Dataset, done bool, err error) {
	d = ds.d
	d.ID = id // for the refusal's log, when not found
	switch {
	case ds.err != nil:
		return d, false, ds.err
	case lease != "" && d.CommittedLease == lease:
		return d, true, nil
	case lease == "" || d.LeaseID != lease || d.LeaseAgent != agentID:
		return d, false, fmt.Errorf("commit dataset %s: %w", id, store.ErrStaleLease)
	case d.Status != dataset.Mapping && (!fetching || d.Status != dataset.Fetching):
		return d, false, fmt.Errorf("commit dataset %s (%s): %w", id, d.Status, store.ErrTransition)
	}
	return d, false, nil
}

// readPage reads a page's body within the upload budget, its share held
// until the caller, done with the page, calls release; a refusal is
// answered.
func (h *Hub) readPage(w http.ResponseWriter, r *http.Request, agentID string, n, size int) (page protocol.Page, release func(), ok bool) {
	share := int64(cmp.Or(size, protocol.MaxPageExpandedBytes))
	wait, cancel := context.WithTimeout(r.Context(), h.cfg.UploadWait)
	err := h.pageBudget.acquire(wait, share)
	cancel()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		refuseUnread(w, r, http.StatusServiceUnavailable, protocol.CodeBusy, "too many pages are being received; send it again later")
		return protocol.Page{}, nil, false
	}
	release = func() { h.pageBudget.release(share) }
	page, body, err := decodeBody(r.Body, size)
	if err != nil {
		release()
		status, code := http.StatusBadRequest, protocol.CodeBadMessage
		if errors.Is(err, protocol.ErrPageTooLarge) {
			status, code = http.StatusRequestEntityTooLarge, protocol.CodeTooLarge
		}
		h.log.Warn("upload page refused", "agent", agentID, "dataset", r.PathValue("id"), "page", n, "err", err)
		writeErr(w, status, code, err.Error())
		return protocol.Page{}, nil, false
	}
	h.cfg.Metrics.Uploaded(body, len(page.Records))
	return page, release, true
}

// commit checks the commit req of d's upload against its staged pages and
// last (nil when every page is staged), then ends it: a small upload in
// one transaction, a larger one the long way (its Mapping at mapped if
// not zero, its last page, then the commit), handed to the Publisher's
// loops. It answers the agent.
func (h *Hub) commit(w http.ResponseWriter, r *http.Request, agentID string, d store.Dataset, req protocol.CommitRequest, last *protocol.Page, mapped time.Time) {
	var lastPage *store.Page
	if last != nil {
		lastPage = &store.Page{AgentID: agentID, DatasetID: d.ID, LeaseID: req.LeaseID, N: req.Pages,
			Records: len(last.Records), Data: last.Raw, Lines: pageLines(*last)}
	}
	small, err := h.checkUpload(r.Context(), d.ID, req, lastPage)
	if err != nil {
		h.log.Warn("commit refused", "agent", agentID, "dataset", d.ID, "err", err)
		writeErr(w, http.StatusConflict, protocol.CodeBadMessage, err.Error())
		return
	}
	if small {
		d, err = h.cfg.Publisher.Commit(r.Context(), d, agentID, req.LeaseID, lastPage, mapped)
	}
	if !small || errors.Is(err, store.ErrTooLarge) {
		d, err = h.commitApart(r.Context(), d, agentID, req.LeaseID, lastPage, mapped)
	}
	if err == nil {
		h.log.Info("upload committed", "agent", agentID, "dataset", d.ID, "company", d.CompanyID, "pages", req.Pages, "records", req.Records, "status", d.Status)
	}
	h.answerCommit(w, agentID, d, err)
}

// commitApart is the long way of an upload too large for one
// transaction: the agent's Mapping (with mapped not zero), its last page
// (unless nil), then CommitUpload, and the dataset handed to Publish.
func (h *Hub) commitApart(ctx context.Context, d store.Dataset, agentID, lease string, last *store.Page, mapped time.Time) (store.Dataset, error) {
	if !mapped.IsZero() {
		_, err := h.st.Report(ctx, store.Report{CompanyID: d.CompanyID, DatasetID: d.ID, LeaseID: lease,
			Actor: agentID, To: dataset.Mapping, Now: mapped})
		if err != nil {
			return d, err
		}
	}
	if last != nil {
		if err := h.st.PutPage(ctx, *last); err != nil {
			return d, err
		}
	}
	d, err := h.st.CommitUpload(ctx, agentID, d.ID, lease, h.now().UTC())
	if err == nil {
		h.cfg.Publisher.Publish(d.CompanyID, d.ID)
	}
	return d, err
}

// answerCommit answers a commit: the status the dataset is in, or the
// refusal err.
func (h *Hub) answerCommit(w http.ResponseWriter, agentID string, d store.Dataset, err error) {
	if err != nil {
		h.refuseHTTP(w, agentID, "commit", d.ID, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": string(d.Status)})
}

// checkUpload compares the commit with what was staged, and last (nil
// when every page is staged): pages 1..n, the record count and the
// SHA-256 of the NDJSON in page order. When last is page 1 nothing staged
// is read. small is whether the pages fit the one transaction of a small
// dataset's commit (store.MaxFinishRecords, store.MaxFinishBytes).
func (h *Hub) checkUpload(ctx context.Context, datasetID string, req protocol.CommitRequest, last *store.Page) (small bool, err error) {
	sum := sha256.New()
	pages, records, size := 0, 0, 0
	add := func(p store.Page) error {
		pages++
		if p.N != pages {
			return errors.New("page " + strconv.Itoa(pages) + " is missing")
		}
		records += p.Records
		size += len(p.Data)
		sum.Write(p.Data)
		return nil
	}
	if last == nil || last.N > 1 {
		err = h.st.Pages(ctx, datasetID, func(p store.Page) error {
			if last != nil && p.N == last.N {
				return nil // the last page, staged by a request that failed after
			}
			return add(p)
		})
	}
	if err == nil && last != nil {
		err = add(*last)
	}
	switch {
	case err != nil:
		return false, err
	case pages != req.Pages:
		return false, errors.New("commit names " + strconv.Itoa(req.Pages) + " pages; " + strconv.Itoa(pages) + " were uploaded")
	case records != req.Records:
		return false, errors.New("commit names " + strconv.Itoa(req.Records) + " records; " + strconv.Itoa(records) + " were uploaded")
	case !bytes.Equal([]byte(hex.EncodeToString(sum.Sum(nil))), []byte(req.SHA256)):
		return false, errors.New("checksum of the uploaded pages does not match the commit")
	}
	return records <= store.MaxFinishRecords && size <= store.MaxFinishBytes, nil
}

func (h *Hub) refuseHTTP(w http.ResponseWriter, agentID, what, datasetID string, err error) {
	status, code, msg := storeErr(err)
	if status >= 500 {
		h.log.Error(what+" failed", "agent", agentID, "dataset", datasetID, "err", err)
	} else {
		h.log.Info(what+" refused", "agent", agentID, "dataset", datasetID, "code", code)
	}
	writeErr(w, status, code, msg)
}
