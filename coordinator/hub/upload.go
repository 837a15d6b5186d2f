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
	agent, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	r, end, ok := h.startUpload(w, r, agent.ID)
	if !ok {
		return
	}
	defer end()
	n, size, ok := h.admitPage(w, r, agent)
	if !ok {
		return
	}
	share := int64(cmp.Or(size, protocol.MaxPageExpandedBytes))
	wait, cancel := context.WithTimeout(r.Context(), h.cfg.UploadWait)
	err := h.pageBudget.acquire(wait, share)
	cancel()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		refuseUnread(w, r, http.StatusServiceUnavailable, protocol.CodeBusy, "too many pages are being received; send it again later")
		return
	}
	defer h.pageBudget.release(share)
	id := r.PathValue("id")
	page, body, err := decodeBody(r.Body, size)
	if err != nil {
		status, code := http.StatusBadRequest, protocol.CodeBadMessage
		if errors.Is(err, protocol.ErrPageTooLarge) {
			status, code = http.StatusRequestEntityTooLarge, protocol.CodeTooLarge
		}
		h.log.Warn("upload page refused", "agent", agent.ID, "dataset", id, "page", n, "err", err)
		writeErr(w, status, code, err.Error())
		return
	}
	err = h.st.PutPage(r.Context(), store.Page{
		AgentID: agent.ID, DatasetID: id, LeaseID: r.Header.Get(protocol.LeaseHeader),
		N: n, Records: len(page.Records), Data: page.Raw, Lines: pageLines(page),
	})
	if err != nil {
		h.refuseHTTP(w, agent.ID, "upload page", id, err)
		return
	}
	h.cfg.Metrics.Uploaded(body, len(page.Records))
	writeJSON(w, http.StatusOK, map[string]int{"page": n, "records": len(page.Records)})
}

// admitPage checks what an upload of the authenticated agent says before
// its body: the page number, the declared size (0 when not given) and that
// the agent may upload to the dataset under the lease it names. A refusal
// is answered, the body unread.
func (h *Hub) admitPage(w http.ResponseWriter, r *http.Request, agent store.Agent) (n, size int, ok bool) {
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
	if err := h.uploadable(r.Context(), agent.ID, id, r.Header.Get(protocol.LeaseHeader)); err != nil {
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
// the dataset under lease: ErrNotFound if its connection is not the
// agent's, ErrStaleLease if the lease no longer holds it, ErrTransition if
// it is not Mapping.
func (h *Hub) uploadable(ctx context.Context, agentID, datasetID, lease string) error {
	d, err := h.st.AgentDataset(ctx, agentID, datasetID)
	switch {
	case err != nil:
		return err
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
// coordinators' connections and memory than its uploads need (an agent
// works on 2 datasets at once, one request each). The agent's HTTP client
// retries after Retry-After. It returns the request to go on with, whose
// context ends with the slot, and the function that ends the upload.
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
	agent, ok := h.authenticate(w, r)
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
	id := r.PathValue("id")
	d, err := h.st.AgentDataset(r.Context(), agent.ID, id)
	switch {
	case err != nil:
		h.refuseHTTP(w, agent.ID, "commit", id, err)
		return
	case req.LeaseID != "" && d.CommittedLease == req.LeaseID:
		writeJSON(w, http.StatusOK, map[string]string{"status": string(d.Status)}) // a commit sent again
		return
	case req.LeaseID == "" || d.LeaseID != req.LeaseID:
		h.refuseHTTP(w, agent.ID, "commit", id, store.ErrStaleLease)
		return
	}
	small, err := h.checkUpload(r, id, req)
	if err != nil {
		h.log.Warn("commit refused", "agent", agent.ID, "dataset", id, "err", err)
		writeErr(w, http.StatusConflict, protocol.CodeBadMessage, err.Error())
		return
	}
	if small {
		d, err = h.cfg.Publisher.Commit(r.Context(), d, agent.ID, req.LeaseID)
	}
	if !small || errors.Is(err, store.ErrTooLarge) {
		d, err = h.st.CommitUpload(r.Context(), agent.ID, id, req.LeaseID, h.now().UTC())
		if err == nil {
			h.cfg.Publisher.Publish(d.CompanyID, d.ID)
		}
	}
	if err != nil {
		h.refuseHTTP(w, agent.ID, "commit", id, err)
		return
	}
	h.log.Info("upload committed", "agent", agent.ID, "dataset", id, "company", d.CompanyID, "pages", req.Pages, "records", req.Records, "status", d.Status)
	writeJSON(w, http.StatusOK, map[string]string{"status": string(d.Status)})
}

// checkUpload compares the commit with what was staged: pages 1..n, the
// record count and the SHA-256 of the NDJSON in page order. small is
// whether the pages fit the one transaction of a small dataset's commit
// (store.MaxFinishRecords, store.MaxFinishBytes).
func (h *Hub) checkUpload(r *http.Request, datasetID string, req protocol.CommitRequest) (small bool, err error) {
	sum := sha256.New()
	pages, records, size := 0, 0, 0
	err = h.st.Pages(r.Context(), datasetID, func(p store.Page) error {
		pages++
		if p.N != pages {
			return errors.New("page " + strconv.Itoa(pages) + " is missing")
		}
		records += p.Records
		size += len(p.Data)
		sum.Write(p.Data)
		return nil
	})
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
