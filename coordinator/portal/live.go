package portal

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// live streams a company's data status as Server-Sent Events: an event
// "status" whose data is the HTML of the page's live part, the status table
// and the recent syncs (rendered by the same templates as the page, so
// escaped the same way), each time the data status changes. Only the data
// status, whose cost does not grow with the history, is read on every
// tick; the history is read when it changed.
// The stream ends when the browser goes, when the Portal closes, or after
// LiveMax; the browser's EventSource then reconnects, which checks the
// session again.
func (h *Handler) live(w http.ResponseWriter, r *http.Request, s *session) {
	companyID := r.PathValue("companyId")
	if _, err := h.store.Company(r.Context(), companyID); err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	}
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
	var last []byte // the status table last sent
	for {
		if h.session(r) != s {
			fmt.Fprint(w, "event: signedout\ndata: \n\n")
			_ = rc.Flush()
			return
		}
		status, frag, err := h.liveFragment(r, s, companyID, last)
		if err != nil {
			h.log.Warn("portal live status", "company", companyID, "err", err)
			return
		}
		if frag != nil {
			last = status
			if err := writeEvent(w, "status", frag); err != nil {
				return
			}
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
