package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// writeCounter is the Publisher's Store, counting the calls that write.
type writeCounter struct {
	Store
	mu    sync.Mutex
	calls []string
}

func (w *writeCounter) note(call string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, call)
}

// take returns the calls noted so far and forgets them.
func (w *writeCounter) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.calls
	w.calls = nil
	return out
}

func (w *writeCounter) SetValidation(ctx context.Context, co, id string, v store.ValidationResult) error {
	w.note("SetValidation")
	return w.Store.SetValidation(ctx, co, id, v)
}

func (w *writeCounter) Report(ctx context.Context, r store.Report) (store.Dataset, error) {
	w.note("Report")
	return w.Store.Report(ctx, r)
}

func (w *writeCounter) PublishCache(ctx context.Context, co, id string, now time.Time) (store.Dataset, error) {
	w.note("PublishCache")
	return w.Store.PublishCache(ctx, co, id, now)
}

func (w *writeCounter) FinishUpload(ctx context.Context, f store.Finish) (store.Dataset, error) {
	w.note("FinishUpload")
	return w.Store.FinishUpload(ctx, f)
}

// TestSmallDatasetOneCommit: the publisher takes a small dataset from
// Validating to its end in one write (one synced commit), its
// transitions each at its own time; a large one goes the long way, a
// write a step. It fails if the steps of a small dataset go back to
// separate commits.
func TestSmallDatasetOneCommit(t *testing.T) {
	e := newEnv(t)
	w := &writeCounter{Store: e.st}
	var (
		mu    sync.Mutex
		clock = e.now
	)
	tick := func() time.Time { // each reading a second later
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	e.pub = New(Config{Store: w, Logger: slog.New(slog.DiscardHandler), Now: tick})
	if err := e.pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pub.Close)

	many := make([]string, store.MaxFinishRecords+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"customerName":"Customer %d","id":"C%05d","status":"Active"}`, i, i)
	}
	tests := []struct {
		name   string
		recs   []string
		status dataset.Status
		calls  []string
	}{
		{"small", []string{customerC001}, dataset.Complete, []string{"FinishUpload"}},
		{"small, failing validation", []string{`{"id":"C002","status":"Active"}`}, dataset.ValidationError, []string{"FinishUpload"}},
		{"empty", nil, dataset.Complete, []string{"FinishUpload"}},
		{"large", many, dataset.Complete, []string{"SetValidation", "Report", "PublishCache"}},
	}
	for _, tt := range tests {
		id := e.committed(dataset.Customers, nil, tt.recs...)
		w.take()
		e.pub.Publish(e.co, id)
		d := e.waitStatus(id, tt.status)
		if got := w.take(); !slices.Equal(got, tt.calls) {
			t.Errorf("%s: writes %q, want %q", tt.name, got, tt.calls)
		}
		tl := d.Timeline
		var path []string
		for i, s := range tl {
			path = append(path, string(s.To))
			if (s.From == dataset.Validating || s.From == dataset.Processing) && !s.At.After(tl[i-1].At) {
				t.Errorf("%s: %s at %v, not after %s at %v", tt.name, s.To, s.At, tl[i-1].To, tl[i-1].At)
			}
		}
		want := []string{"Queued", "Fetching", "Mapping", "Validating", "Processing", "Complete"}
		if tt.status == dataset.ValidationError {
			want = []string{"Queued", "Fetching", "Mapping", "Validating", "ValidationError"}
		}
		if !slices.Equal(path, want) {
			t.Errorf("%s: timeline %q, want %q", tt.name, path, want)
		}
		n := 0
		err := e.st.CachedRecords(t.Context(), e.co, string(dataset.Customers), func(string, []byte) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if tt.status == dataset.Complete && n != len(tt.recs) {
			t.Errorf("%s: %d records cached, want %d", tt.name, n, len(tt.recs))
		}
	}
}

// unreachable is the Publisher's Store whose FinishUpload fails as a
// database that cannot be reached, the first fails times.
type unreachable struct {
	Store
	mu    sync.Mutex
	fails int
}

func (u *unreachable) FinishUpload(ctx context.Context, f store.Finish) (store.Dataset, error) {
	u.mu.Lock()
	fail := u.fails > 0
	u.fails--
	u.mu.Unlock()
	if fail {
		return store.Dataset{}, fmt.Errorf("finish: %w: connection refused", store.ErrUnavailable)
	}
	return u.Store.FinishUpload(ctx, f)
}

// TestUnavailableStoreIsWaitedFor: a dataset whose finish meets a store
// that cannot be reached (its database restarting) is tried again until
// it completes, not left Validating for the leader's resume minutes
// later. Without the retry it stays Validating and the test times out.
func TestUnavailableStoreIsWaitedFor(t *testing.T) {
	e := newEnv(t)
	u := &unreachable{Store: e.st, fails: 3}
	e.pub = New(Config{Store: u, Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	if err := e.pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pub.Close)
	id := e.committed(dataset.Customers, nil, customerC001)
	e.pub.Publish(e.co, id)
	e.waitStatus(id, dataset.Complete)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fails != -1 {
		t.Errorf("%d failures left to make, want -1: three failed tries, then one that completed", u.fails)
	}
}

// TestCommitOneTransaction: Publisher.Commit takes a small upload from
// Mapping, its commit included, to its end in one write (one synced
// commit), Validating, Processing and Complete each at its own time, a
// later one than the entry before; a large one is refused with
// store.ErrTooLarge and nothing written, still Mapping. It fails if the
// commit goes back to a transaction of its own.
func TestCommitOneTransaction(t *testing.T) {
	e := newEnv(t)
	w := &writeCounter{Store: e.st}
	var (
		mu    sync.Mutex
		clock = e.now
	)
	tick := func() time.Time { // each reading a second later
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	e.pub = New(Config{Store: w, Logger: slog.New(slog.DiscardHandler), Now: tick})
	many := make([]string, store.MaxFinishRecords+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"customerName":"Customer %d","id":"C%05d","status":"Active"}`, i, i)
	}
	tests := []struct {
		name   string
		recs   []string
		status dataset.Status
		path   []dataset.Status
	}{
		{"small", []string{customerC001}, dataset.Complete, []dataset.Status{dataset.Validating, dataset.Processing, dataset.Complete}},
		{"small, failing validation", []string{`{"id":"C002","status":"Active"}`}, dataset.ValidationError, []dataset.Status{dataset.Validating, dataset.ValidationError}},
		{"empty", nil, dataset.Complete, []dataset.Status{dataset.Validating, dataset.Processing, dataset.Complete}},
	}
	for _, tt := range tests {
		d, lease := e.staged(dataset.Customers, nil, tt.recs...)
		w.take()
		out, err := e.pub.Commit(t.Context(), d, e.agent, lease, nil, time.Time{})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got, want := w.take(), []string{"FinishUpload"}; !slices.Equal(got, want) {
			t.Errorf("%s: writes %q, want %q", tt.name, got, want)
		}
		stored, err := e.st.Dataset(t.Context(), e.co, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []store.Dataset{out, stored} {
			if d.Status != tt.status || d.LeaseID != "" || d.CommittedLease != lease {
				t.Errorf("%s: %s, lease %q, committed lease %q; want %s, none, %q", tt.name, d.Status, d.LeaseID, d.CommittedLease, tt.status, lease)
			}
			tl := d.Timeline[len(d.Timeline)-len(tt.path):]
			for i, s := range tl {
				if s.To != tt.path[i] {
					t.Errorf("%s: entry %d is %s, want %s", tt.name, i, s.To, tt.path[i])
				}
				if prev := d.Timeline[len(d.Timeline)-len(tt.path)+i-1]; !s.At.After(prev.At) {
					t.Errorf("%s: %s at %v, not after %s at %v", tt.name, s.To, s.At, prev.To, prev.At)
				}
			}
		}
	}

	d, lease := e.staged(dataset.Customers, nil, many...)
	w.take()
	if _, err := e.pub.Commit(t.Context(), d, e.agent, lease, nil, time.Time{}); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("large: %v, want ErrTooLarge", err)
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("large: writes %q, want none", got)
	}
	if d, err := e.st.Dataset(t.Context(), e.co, d.ID); err != nil || d.Status != dataset.Mapping || d.LeaseID != lease {
		t.Errorf("large after the refusal: %s under %q, %v; want Mapping under %q", d.Status, d.LeaseID, err, lease)
	}
}

// gate is the Publisher's Store noting the pages read and finishes
// made, by dataset, whose FinishUpload of dataset held waits for release.
type gate struct {
	Store
	held    string
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	events  []string
}

func (g *gate) note(e string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, e)
}

func (g *gate) Pages(ctx context.Context, id string, fn func(store.Page) error) error {
	g.note("pages " + id)
	return g.Store.Pages(ctx, id, fn)
}

func (g *gate) FinishUpload(ctx context.Context, f store.Finish) (store.Dataset, error) {
	if f.DatasetID == g.held {
		close(g.entered)
		<-g.release
	}
	d, err := g.Store.FinishUpload(ctx, f)
	g.note("finished " + f.DatasetID)
	return d, err
}

// TestCommitsOfACompanyTakeTurns: a company's second commit is neither
// validated nor finished before its first has ended (it would validate
// against the cache the first is replacing), as when each went through
// the company's process loop. Without the company's turn the second
// never waits and the test fails at its deadline.
func TestCommitsOfACompanyTakeTurns(t *testing.T) {
	e := newEnv(t)
	first, lease1 := e.staged(dataset.Customers, nil, customerC001)
	second, lease2 := e.staged(dataset.Invoices, nil)
	g := &gate{Store: e.st, held: first.ID, entered: make(chan struct{}), release: make(chan struct{})}
	e.pub = New(Config{Store: g, Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	errs := make(chan error, 2)
	go func() { _, err := e.pub.Commit(t.Context(), first, e.agent, lease1, nil, time.Time{}); errs <- err }()
	<-g.entered
	go func() { _, err := e.pub.Commit(t.Context(), second, e.agent, lease2, nil, time.Time{}); errs <- err }()
	waiting := func() bool {
		e.pub.held.mu.Lock()
		defer e.pub.held.mu.Unlock()
		l := e.pub.held.locks[e.co]
		return l != nil && l.users == 2
	}
	for deadline := time.Now().Add(10 * time.Second); !waiting(); {
		if time.Now().After(deadline) {
			close(g.release)
			t.Fatal("the second commit of the company did not wait for the first")
		}
		runtime.Gosched()
	}
	close(g.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"pages " + first.ID, "finished " + first.ID, "pages " + second.ID, "finished " + second.ID}
	if !slices.Equal(g.events, want) {
		t.Errorf("store calls %q, want %q", g.events, want)
	}
	if n := len(e.pub.held.locks); n != 0 {
		t.Errorf("%d company locks kept after the commits, want 0", n)
	}
}
