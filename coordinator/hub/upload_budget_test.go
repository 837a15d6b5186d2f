package hub

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// watchedBody is a request body that records whether it was read and,
// when gate is set, blocks its first read until gate is closed.
type watchedBody struct {
	r       io.Reader
	gate    chan struct{}
	started atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if !b.started.Swap(true) && b.gate != nil {
		<-b.gate
	}
	return b.r.Read(p)
}

// putExpecting uploads a page as an agent that waits for 100 Continue
// before it sends the body, so the body is read only if the coordinator
// asks for it. size is declared unless 0.
func (e *env) putExpecting(client *http.Client, cred, datasetID, lease string, n, size int, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPut, e.url+protocol.PagePath(datasetID, n), body)
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = -1 // as the real agent's body: length unknown to the transport here
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set(protocol.LeaseHeader, lease)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Expect", "100-continue")
	if size > 0 {
		req.Header.Set(protocol.PageBytesHeader, strconv.Itoa(size))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// expectClient is an HTTP client that waits up to a minute for 100
// Continue before sending a body.
func expectClient(t *testing.T) *http.Client {
	tr := &http.Transport{ExpectContinueTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// A page the agent may not store is refused before a byte of its body is
// read, let alone expanded: a bomb sent to another agent's dataset costs
// the coordinator a store lookup.
func TestPageRefusedBeforeItsBodyIsRead(t *testing.T) {
	e := newEnv(t)
	a, c, cred := e.claimMapping()
	_, other, _ := e.claimMapping() // another agent's dataset, in Mapping
	queued, _, err := e.st.QueuedDatasets(t.Context(), c.ConnectionID)
	if err != nil || len(queued) == 0 {
		t.Fatalf("queued datasets: %v, %v", queued, err)
	}
	fetching := a.claim(queued[0].ID).Claimed // held, but Fetching
	body, raw := page(t, `{"id":"a"}`)
	client := expectClient(t)
	tests := []struct {
		name     string
		cred, ds string
		lease    string
		n, size  int
		status   int
		code     protocol.Code
	}{
		{"another agent's dataset", cred, other.DatasetID, other.LeaseID, 1, 0, 404, protocol.CodeNotFound},
		{"no such dataset", cred, uuid.NewString(), c.LeaseID, 1, 0, 404, protocol.CodeNotFound},
		{"stale lease", cred, c.DatasetID, "old-lease", 1, 0, 409, protocol.CodeStaleLease},
		{"no lease", cred, c.DatasetID, "", 1, 0, 409, protocol.CodeStaleLease},
		{"dataset Fetching", cred, fetching.DatasetID, fetching.LeaseID, 1, 0, 409, protocol.CodeTransition},
		{"bad credential", "fra_nope", c.DatasetID, c.LeaseID, 1, 0, 401, protocol.CodeUnauthorized},
		{"page zero", cred, c.DatasetID, c.LeaseID, 0, 0, 400, protocol.CodeBadMessage},
		{"declared size over the limit", cred, c.DatasetID, c.LeaseID, 1, protocol.MaxPageExpandedBytes + 1, 400, protocol.CodeBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &watchedBody{r: bytes.NewReader(body)}
			status, out, err := e.putExpecting(client, tt.cred, tt.ds, tt.lease, tt.n, tt.size, b)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || code(t, out) != tt.code {
				t.Errorf("got %d %s, want %d %s", status, out, tt.status, tt.code)
			}
			if b.started.Load() {
				t.Errorf("the body was read; want it refused unread")
			}
		})
	}
	// The same client then stores the page: the refusals were answers,
	// not broken connections.
	b := &watchedBody{r: bytes.NewReader(body)}
	if status, out, err := e.putExpecting(client, cred, c.DatasetID, c.LeaseID, 1, len(raw), b); err != nil || status != 200 {
		t.Fatalf("page held under the lease: %d %s %v", status, out, err)
	}
}

// However many pages arrive at once, only as many as fit in the upload
// budget are read and expanded; the others wait, unread, and go on as
// the first finish.
func TestUploadBudgetBoundsPagesInFlight(t *testing.T) {
	body, raw := page(t, `{"id":"a","pad":"0123456789"}`, `{"id":"b"}`)
	size := int64(len(raw))
	e := newEnvWith(t, func(c *Config) { c.UploadMemory = 2 * size }) // two pages at once
	_, c, cred := e.claimMapping()
	client := expectClient(t)
	gate := make(chan struct{})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(gate) }) })

	const pages = 3
	bodies := make([]*watchedBody, pages)
	type result struct {
		n, status int
		out       []byte
		err       error
	}
	results := make(chan result, pages)
	for i := range bodies {
		bodies[i] = &watchedBody{r: bytes.NewReader(body), gate: gate}
		go func() {
			status, out, err := e.putExpecting(client, cred, c.DatasetID, c.LeaseID, i+1, len(raw), bodies[i])
			results <- result{i + 1, status, out, err}
		}()
	}
	started := func() (n int) {
		for _, b := range bodies {
			if b.started.Load() {
				n++
			}
		}
		return n
	}
	var used int64
	var waiting int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		used, waiting = e.hub.pageBudget.state()
		if used == 2*size && waiting == 1 && started() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("budget used %d of %d with %d waiting and %d bodies being read; want %d used, 1 waiting, 2 read",
				used, 2*size, waiting, started(), 2*size)
		}
	}
	// The page waiting for its share has not been read: it waits before
	// the body, so a burst costs its headers only.
	if got := started(); got != 2 {
		t.Errorf("%d bodies read while one page waits; want 2", got)
	}
	release.Do(func() { close(gate) })
	for range pages {
		r := <-results
		if r.err != nil || r.status != 200 {
			t.Errorf("page %d: %d %s %v", r.n, r.status, r.out, r.err)
		}
	}
	if used, waiting := e.hub.pageBudget.state(); used != 0 || waiting != 0 {
		t.Errorf("after the uploads: budget used %d, %d waiting; want 0, 0", used, waiting)
	}
}

// A page that waits longer than UploadWait for its share is refused with
// 503 and Retry-After, which the agent retries, unread, and takes nothing.
func TestUploadBudgetWaitIsBounded(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.UploadMemory, c.UploadWait = 1, 50*time.Millisecond })
	_, c, cred := e.claimMapping()
	if err := e.hub.pageBudget.acquire(t.Context(), 1); err != nil { // the budget is taken
		t.Fatal(err)
	}
	defer e.hub.pageBudget.release(1)
	body, raw := page(t, `{"id":"a"}`)
	b := &watchedBody{r: bytes.NewReader(body)}
	status, out, err := e.putExpecting(expectClient(t), cred, c.DatasetID, c.LeaseID, 1, len(raw), b)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable || code(t, out) != protocol.CodeBusy {
		t.Errorf("got %d %s, want 503 %s", status, out, protocol.CodeBusy)
	}
	if b.started.Load() {
		t.Error("the body was read; want it refused unread")
	}
	if used, waiting := e.hub.pageBudget.state(); used != 1 || waiting != 0 {
		t.Errorf("budget used %d, %d waiting after the refusal; want 1, 0", used, waiting)
	}
}
