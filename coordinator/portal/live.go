package portal

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Live streams are Server-Sent Events: an event "status" whose data is
// the HTML of a page's live part (rendered by the same templates as the
// page, so escaped the same way) each time it changes, "done" when it will
// not change again, and "signedout" when the session ended. A stream ends
// when the browser goes, when the Portal closes, or after LiveMax; the
// browser's EventSource then reconnects, which checks the session again.

// fragmentFunc renders a live part. last is the key it returned before
// (nil at first); it returns the new key, and frag nil when nothing changed.
// final says the part will not change again.
type fragmentFunc func(r *http.Request, last []byte) (key, frag []byte, final bool, err error)

// companyLive streams the company page's data status and recent syncs.
// Only the data status, whose cost does not grow with the history, is read
// on every tick; the history is read when it changed.
func (h *Handler) companyLive(w http.ResponseWriter, r *http.Request, s *session) {
	companyID := r.PathValue("companyId")
	if _, err := h.store.Company(r.Context(), companyID); err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	}
	h.stream(w, r, s, func(r *http.Request, last []byte) ([]byte, []byte, bool, error) {
		key, frag, err := h.liveFragment(r, s, companyID, last)
		return key, frag, false, err
	})
}

// datasetLive streams a dataset page's details, timeline and validation,
// until the dataset is terminal.
func (h *Handler) datasetLive(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := h.datasetData(r); err != nil {
		h.storeFail(w, r, s, err, "There is no such dataset.")
		return
	}
	h.stream(w, r, s, func(r *http.Request, last []byte) ([]byte, []byte, bool, error) {
		d, err := h.datasetData(r)
		if err != nil {
			return nil, nil, false, err
		}
		var buf bytes.Buffer
		if err := pages["dataset"].ExecuteTemplate(&buf, "dataset-live", d); err != nil {
			return nil, nil, false, err
		}
		final := d.Dataset.Status.Terminal()
		if bytes.Equal(buf.Bytes(), last) {
			return last, nil, final, nil
		}
		return buf.Bytes(), buf.Bytes(), final, nil
	})
}

// stream runs a live stream of the fragments render gives.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, s *session, render fragmentFunc) {
	if !h.startStream() {
		h.fail(w, r, s, http.StatusServiceUnavailable, "The coordinator is stopping.")
		return
	}
	defer h.wg.Done()
	rc := http.NewResponseController(w)
	// The server's read timeout would otherwise end a long stream.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")

	tick := time.NewTicker(h.liveEvery)
	defer tick.Stop()
	end := time.NewTimer(h.liveMax)
	defer end.Stop()
	var last []byte
	for {
		if cur := h.session(r); cur == nil || cur.id != s.id {
			fmt.Fprint(w, "event: signedout\ndata: \n\n")
			_ = rc.Flush()
			return
		}
		key, frag, final, err := render(r, last)
		if err != nil {
			h.log.Warn("portal live stream", "path", r.URL.Path, "err", err)
			return
		}
		if frag != nil {
			last = key
			if err := writeEvent(w, "status", frag); err != nil {
				return
			}
		}
		if final {
			fmt.Fprint(w, "event: done\ndata: \n\n")
			_ = rc.Flush()
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-h.ctx.Done():
			return
		case <-end.C:
			return
		case <-tick.C:
		}
	}
}

// liveFragment renders the status table and, when it differs from last,
// the whole live part; frag is nil when nothing changed.
func (h *Handler) liveFragment(r *http.Request, s *session, companyID string, last []byte) (status, frag []byte, err error) {
	var d liveData
	if d.Status, err = h.statusData(r.Context(), companyID, s); err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := pages["company"].ExecuteTemplate(&buf, "status", d.Status); err != nil {
		return nil, nil, err
	}
	if bytes.Equal(buf.Bytes(), last) {
		return last, nil, nil
	}
	status = bytes.Clone(buf.Bytes())
	if err := h.recent(r.Context(), &d); err != nil {
		return nil, nil, err
	}
	buf.Reset()
	if err := pages["company"].ExecuteTemplate(&buf, "live", d); err != nil {
		return nil, nil, err
	}
	return status, buf.Bytes(), nil
}

// writeEvent writes one event; every line of data gets its "data:" prefix.
func writeEvent(w http.ResponseWriter, name string, data []byte) error {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	for line := range strings.SplitSeq(strings.TrimRight(string(data), "\n"), "\n") {
		b.WriteString("data: " + strings.TrimRight(line, "\r") + "\n")
	}
	b.WriteString("\n")
	_, err := fmt.Fprint(w, b.String())
	return err
}

// startStream counts a live stream in, unless the Portal is closing.
func (h *Handler) startStream() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}
