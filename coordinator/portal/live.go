package portal

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// live streams a company's data status as Server-Sent Events: an event
// "status" whose data is the status table's HTML (rendered by the same
// template as the page, so escaped the same way) each time it changes.
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
	var last []byte
	for {
		if h.session(r) != s {
			fmt.Fprint(w, "event: signedout\ndata: \n\n")
			_ = rc.Flush()
			return
		}
		frag, err := h.statusFragment(r, s, companyID)
		if err != nil {
			h.log.Warn("portal live status", "company", companyID, "err", err)
			return
		}
		if !bytes.Equal(frag, last) {
			last = frag
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

func (h *Handler) statusFragment(r *http.Request, s *session, companyID string) ([]byte, error) {
	d, err := h.statusData(r.Context(), companyID, s)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = pages["company"].ExecuteTemplate(&buf, "status", d)
	return buf.Bytes(), err
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
