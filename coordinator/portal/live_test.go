package portal

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// stream is an open live stream.
type stream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

func (b *browser) live(ctx context.Context, companyID string) *stream {
	b.e.t.Helper()
	return b.stream(ctx, "/portal/companies/"+companyID+"/live")
}

func (b *browser) stream(ctx context.Context, path string) *stream {
	b.e.t.Helper()
	req := must(http.NewRequestWithContext(ctx, "GET", b.e.srv.URL+path, nil))
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	b.e.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.e.t.Fatalf("live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &stream{t: b.e.t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// next reads the next event: its name and its data lines joined; io.EOF
// when the server ended the stream.
func (s *stream) next() (string, string, error) {
	var name string
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && name != "":
			return name, strings.Join(data, "\n"), nil
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// until reads status events until one satisfies cond.
func (s *stream) until(what string, cond func(string) bool) string {
	s.t.Helper()
	for {
		name, data, err := s.next()
		if err != nil {
			s.t.Fatalf("stream ended waiting for %s: %v", what, err)
		}
		if name == "status" && cond(data) {
			return data
		}
	}
}

func TestLiveStatusFollowsTheDataset(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s := b.live(ctx, "co")
	first := s.until("the first status", func(string) bool { return true })
	if !strings.Contains(first, `id="status-invoices"`) || !strings.Contains(first, "Never synced") ||
		!strings.Contains(first, `name="csrf" value="`) {
		t.Fatalf("first event:\n%s", first)
	}
	ds, err := e.q.Queue(ctx, "co", "invoices", "", "queued by a test")
	if err != nil {
		t.Fatal(err)
	}
	s.until("invoices Queued, in the status and the recent syncs", func(d string) bool {
		return strings.Contains(d, `data-dataset="`+ds.ID+`">Queued<`) &&
			strings.Contains(d, `<a href="/portal/companies/co/datasets/`+ds.ID+`">invoices</a>`)
	})
	if _, err := e.st.Report(ctx, store.Report{CompanyID: "co", DatasetID: ds.ID, Actor: store.ActorCoordinator,
		To: dataset.InternalError, Message: "stopped by a test", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.until("invoices InternalError", func(d string) bool {
		return strings.Contains(d, `data-dataset="`+ds.ID+`">InternalError<`) && strings.Contains(d, "stopped by a test")
	})
	// Closing the Portal (the server shutting down) ends the stream.
	e.h.Close()
	for {
		if _, _, err := s.next(); err != nil {
			if err != io.EOF {
				t.Fatalf("stream after Close: %v, want EOF", err)
			}
			break
		}
	}
	if resp, _ := b.get("/portal/companies/co/live"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("live after Close: %d, want 503", resp.StatusCode)
	}
}

func TestLiveStreamEndsWhenTheBrowserGoes(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	ctx, cancel := context.WithCancel(t.Context())
	s := b.live(ctx, "co")
	s.until("the first status", func(string) bool { return true })
	cancel()
	// Close waits for every stream: it returns only if the handler saw the
	// browser go.
	e.h.Close()
}

func TestLiveStreamEndsOnSignOut(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(clientKey)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s := b.live(ctx, "co")
	s.until("the first status", func(string) bool { return true })
	b.post("/portal/signout", url.Values{"csrf": {b.token()}})
	for {
		name, _, err := s.next()
		if err != nil {
			t.Fatalf("stream ended without a signedout event: %v", err)
		}
		if name == "signedout" {
			break
		}
	}
	if _, _, err := s.next(); err != io.EOF {
		t.Errorf("after signedout: %v, want EOF", err)
	}
}

func TestLiveDatasetUntilItEnds(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(supportKey)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ds, err := e.q.Queue(ctx, "co", "bills", "", "queued by a test")
	if err != nil {
		t.Fatal(err)
	}
	_, page := b.get("/portal/companies/co/datasets/" + ds.ID)
	if want := `data-live="/portal/companies/co/datasets/` + ds.ID + `/live"`; !strings.Contains(page, want) {
		t.Fatalf("dataset page lacks %s", want)
	}
	s := b.stream(ctx, "/portal/companies/co/datasets/"+ds.ID+"/live")
	s.until("Queued", func(d string) bool { return strings.Contains(d, `id="dataset-status">Queued<`) })
	if _, err := e.st.Report(ctx, store.Report{CompanyID: "co", DatasetID: ds.ID, Actor: store.ActorCoordinator,
		To: dataset.InternalError, Message: "stopped <by> a test", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.until("InternalError in the timeline", func(d string) bool {
		return strings.Contains(d, `id="dataset-status">InternalError<`) && strings.Contains(d, "stopped &lt;by&gt; a test")
	})
	if name, _, err := s.next(); name != "done" || err != nil {
		t.Fatalf("after the terminal status: %q %v, want done", name, err)
	}
	if _, _, err := s.next(); err != io.EOF {
		t.Errorf("after done: %v, want EOF", err)
	}
	if resp, _ := b.get("/portal/companies/co/datasets/nope/live"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("live of a missing dataset: %d, want 404", resp.StatusCode)
	}
}
