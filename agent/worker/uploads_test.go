package worker_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// uploadsSeen is a transport that counts an agent's upload requests in
// flight and the 429s they were answered. Until the first
// protocol.UploadsPerAgent are in flight together it holds them, so that
// the datasets' pages overlap however fast the coordinator answers.
type uploadsSeen struct {
	next http.RoundTripper

	mu           sync.Mutex
	now, most    int
	tooMany      int
	released     chan struct{}
	releasedOnce sync.Once
}

func (u *uploadsSeen) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.URL.Path, "/pages/") && !strings.HasSuffix(r.URL.Path, "/commit") {
		return u.next.RoundTrip(r)
	}
	u.mu.Lock()
	u.now++
	u.most = max(u.most, u.now)
	if u.now >= protocol.UploadsPerAgent {
		u.releasedOnce.Do(func() { close(u.released) })
	}
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.now--
		u.mu.Unlock()
	}()
	select {
	case <-u.released:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	resp, err := u.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		u.mu.Lock()
		u.tooMany++
		u.mu.Unlock()
	}
	return resp, err
}

// TestUploadsStayInTheAgentsWindow: an agent reading three connections
// at once (concurrency 3), each a dataset of five pages, keeps its
// requests within the coordinator's slots for one agent: never more than
// protocol.UploadsPerAgent in flight, none answered 429 (each a second's
// wait), and every dataset Complete. Each dataset's page writer alone
// has protocol.PagesInFlight in flight: 12 together without the agent's
// window.
func TestUploadsStayInTheAgentsWindow(t *testing.T) {
	c := startCoordinator(t, t.TempDir(), "127.0.0.1:0")
	var (
		cred      string
		companies []string
		bindings  []worker.Binding
	)
	for i := range 3 {
		dir := t.TempDir()
		var csv strings.Builder
		csv.WriteString("id,customerName,contactName,emailAddress,phone,addresses,taxNumber,defaultCurrency,status\n")
		for n := range 5 * 1000 {
			fmt.Fprintf(&csv, "C%d-%05d,Customer %d,,,,,,GBP,Active\n", i, n, n)
		}
		if err := os.WriteFile(filepath.Join(dir, "customers.csv"), []byte(csv.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		var (
			company string
			b       worker.Binding
		)
		if i == 0 {
			company, b, cred = c.linked(dir)
		} else {
			company, b = c.linkedTo(cred, dir)
		}
		companies, bindings = append(companies, company), append(bindings, b)
	}
	seen := &uploadsSeen{next: http.DefaultTransport.(*http.Transport).Clone(), released: make(chan struct{})}
	startWorker(t, worker.Config{Coordinator: c.URL, Credential: cred, Bindings: bindings, Concurrency: 3,
		HTTP: upload.NewHTTPClient(slog.New(slog.DiscardHandler), seen)})
	for _, co := range companies {
		waitFor(t, 60*time.Second, "company "+co+"'s customers Complete", func() bool { return c.statuses(co)["customers"] == "Complete" })
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if seen.most != protocol.UploadsPerAgent {
		t.Errorf("%d upload requests in flight at once, want the window's %d", seen.most, protocol.UploadsPerAgent)
	}
	if seen.tooMany > 0 {
		t.Errorf("%d upload requests answered 429, want none", seen.tooMany)
	}
}
