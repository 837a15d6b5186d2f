package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// inFlight counts the page requests a fake coordinator holds at once.
type inFlight struct {
	mu        sync.Mutex
	changed   *sync.Cond
	now, most int
	ended     int // requests that returned
}

func newInFlight() *inFlight {
	f := &inFlight{}
	f.changed = sync.NewCond(&f.mu)
	return f
}

func (f *inFlight) enter() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now++
	f.most = max(f.most, f.now)
	f.changed.Broadcast()
}

func (f *inFlight) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now--
	f.ended++
	f.changed.Broadcast()
}

// waitFor waits until cond, under the lock, holds or the deadline passes,
// and says which.
func (f *inFlight) waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	t := time.AfterFunc(d, func() { f.mu.Lock(); f.changed.Broadcast(); f.mu.Unlock() })
	defer t.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for !cond() && time.Now().Before(deadline) {
		f.changed.Wait()
	}
	return cond()
}

// TestPagesInFlight: the writer sends the next pages while the earlier
// ones are unanswered, PagesInFlight at most, and commits only once
// every page is stored. The fake holds each page until PagesInFlight are
// held together; a writer that waits for each answer before the next
// page (as before) never has more than one there and fails.
func TestPagesInFlight(t *testing.T) {
	for _, last := range []bool{false, true} {
		t.Run(map[bool]string{false: "commit apart", true: "last page with the commit"}[last], func(t *testing.T) {
			c, srv := newCoordinator(t)
			srv.Config.Handler.(*http.ServeMux).HandleFunc("PUT /agent/v1/datasets/{id}/pages/{n}/commit", c.lastPage)
			f := newInFlight()
			var together sync.Once
			held := false
			c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
				if !strings.Contains(r.URL.Path, "/pages/") || strings.HasSuffix(r.URL.Path, "/commit") {
					f.mu.Lock()
					if f.now != 0 {
						t.Errorf("%s sent with %d pages in flight", r.URL.Path, f.now)
					}
					f.mu.Unlock()
					return false
				}
				f.enter()
				defer f.leave()
				// Once: the first PagesInFlight pages meet; the rest go on.
				together.Do(func() {
					held = f.waitFor(10*time.Second, func() bool { return f.now == PagesInFlight })
				})
				return false
			}
			client, _ := testClient(t, nil)
			w := c.writer(t, srv, client, Options{MaxRecords: 10, LastPage: last})
			writeInvoices(t, w, 205) // 21 pages
			got, err := w.Commit()
			if err != nil {
				t.Fatal(err)
			}
			if !held {
				t.Errorf("never %d pages in flight at once", PagesInFlight)
			}
			if f.most > PagesInFlight {
				t.Errorf("%d pages in flight at once, want at most %d", f.most, PagesInFlight)
			}
			if got.Pages != 21 || got.Records != 205 || len(c.commits) != 1 || c.stores != 21 {
				t.Errorf("commit %+v after %d pages stored, coordinator's %+v; want 21 pages of 205 records", got, c.stores, c.commits)
			}
			if ids := c.ids(); len(ids) != 205 || ids[0] != "inv-00000" || ids[204] != "inv-00204" {
				t.Errorf("%d records stored, want 205 in order", len(ids))
			}
		})
	}
}

// TestFailureInFlightEndsTheOthers: when a page in flight is refused, the
// pages in flight beside it are abandoned (their requests end, not
// answered), the call that sees the failure returns it once all ended,
// and the writer stays broken.
func TestFailureInFlightEndsTheOthers(t *testing.T) {
	c, srv := newCoordinator(t)
	f := newInFlight()
	c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		if r.URL.Path == protocol.PagePath(c.id, 1) {
			// Refused once the others are in flight.
			f.waitFor(10*time.Second, func() bool { return f.now == PagesInFlight-1 })
			refuse(w, http.StatusConflict, protocol.CodeStaleLease, "the lease no longer holds the dataset")
			return true
		}
		f.enter()
		defer f.leave()
		io.Copy(io.Discard, r.Body) // so that the server sees the connection close
		<-r.Context().Done()        // held until the agent gives up on it
		return true
	}
	client, _ := testClient(t, nil)
	w := c.writer(t, srv, client, Options{MaxRecords: 1})
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = w.Write(invoice{ID: "a"})
	}
	if err == nil {
		_, err = w.Commit()
	}
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeStaleLease || !strings.Contains(err.Error(), "page 1") {
		t.Fatalf("upload = %v, want page 1's %s", err, protocol.CodeStaleLease)
	}
	if n := len(w.slots); n != 0 {
		t.Errorf("%d pages still in flight after the failure was returned", n)
	}
	if !f.waitFor(10*time.Second, func() bool { return f.now == 0 }) {
		t.Errorf("the coordinator still holds %d abandoned pages", f.now)
	}
	if f.ended != PagesInFlight-1 {
		t.Errorf("%d pages were in flight beside page 1, want %d", f.ended, PagesInFlight-1)
	}
	if err2 := w.Write(invoice{ID: "b"}); err2 != err {
		t.Errorf("Write after the failure = %v, want %v", err2, err)
	}
	if _, err2 := w.Commit(); err2 != err {
		t.Errorf("Commit after the failure = %v, want %v", err2, err)
	}
}

// TestWritersShareTheWindow: three page writers sharing a Window have no
// more requests in flight together than protocol.UploadsPerAgent, the
// coordinator's slots for one agent; each alone would have
// PagesInFlight, 12 in all. The fakes hold every page until the test
// lets them go: with the window, 8 are held and the window is full (the
// others wait for a slot); without it, more than 8 arrive.
func TestWritersShareTheWindow(t *testing.T) {
	const writers, pages = 3, PagesInFlight + 1
	f := newInFlight()
	release := make(chan struct{})
	win := NewWindow(protocol.UploadsPerAgent)
	client, _ := testClient(t, nil)
	var (
		ws   []*PageWriter
		fake []*coordinator
	)
	for range writers {
		c, srv := newCoordinator(t)
		c.fault = func(w http.ResponseWriter, r *http.Request, attempt int) bool {
			if strings.Contains(r.URL.Path, "/pages/") {
				f.enter()
				defer f.leave()
				<-release
			}
			return false
		}
		fake = append(fake, c)
		ws = append(ws, c.writer(t, srv, client, Options{MaxRecords: 10, Window: win}))
	}
	errs := make(chan error, writers)
	for _, w := range ws {
		go func() {
			for i := range pages * 10 {
				if err := w.Write(invoice{ID: fmt.Sprintf("inv-%05d", i), TotalAmount: "1"}); err != nil {
					errs <- err
					return
				}
			}
			_, err := w.Commit()
			errs <- err
		}()
	}
	met := f.waitFor(10*time.Second, func() bool {
		return f.now > protocol.UploadsPerAgent || f.now == protocol.UploadsPerAgent && len(win.slots) == cap(win.slots)
	})
	f.mu.Lock()
	held := f.now
	f.mu.Unlock()
	close(release)
	for range writers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if !met || held != protocol.UploadsPerAgent {
		t.Errorf("%d pages held at once by the writers together, want the window's %d", held, protocol.UploadsPerAgent)
	}
	if f.most > protocol.UploadsPerAgent {
		t.Errorf("%d pages in flight at once, want at most %d", f.most, protocol.UploadsPerAgent)
	}
	for i, c := range fake {
		if c.stores != pages || len(c.commits) != 1 {
			t.Errorf("writer %d: %d pages stored, %d commits; want %d and 1", i, c.stores, len(c.commits), pages)
		}
	}
	if n := len(win.slots); n != 0 {
		t.Errorf("%d slots of the window still held after every commit", n)
	}
}

// TestWaitForTheWindowEndsWithTheWriter: a writer whose requests wait for
// a slot of a full window gives up when its context ends: Commit returns
// the cancellation rather than waiting for a slot that is not given back
// (a take that ignored the context hangs here), no request was made, and
// the window's slots are as the others left them.
func TestWaitForTheWindowEndsWithTheWriter(t *testing.T) {
	c, srv := newCoordinator(t)
	win := NewWindow(1)
	if err := win.take(t.Context()); err != nil { // another writer's request
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	client, _ := testClient(t, nil)
	w := NewPageWriter(ctx, client, srv.URL, c.credential, c.id, c.lease, Options{MaxRecords: 1, Window: win})
	for i := range PagesInFlight {
		if err := w.Write(invoice{ID: fmt.Sprintf("inv-%d", i)}); err != nil {
			t.Fatalf("Write = %v, want the page handed to a request that waits for the window", err)
		}
	}
	cancel()
	if _, err := w.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit = %v, want context.Canceled", err)
	}
	w.Close()
	c.mu.Lock()
	puts := c.puts
	c.mu.Unlock()
	if puts != 0 {
		t.Errorf("%d pages reached the coordinator through a full window", puts)
	}
	if n := len(win.slots); n != 1 {
		t.Errorf("%d slots held after the writer gave up, want the other writer's 1", n)
	}
}
