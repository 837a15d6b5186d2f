package worker_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
)

// requestLog is a RoundTripper that notes the method and path of every
// request the worker's HTTP client makes.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.seen = append(l.seen, r.Method+" "+r.URL.Path)
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// count is how many requests were of method with a path ending in suffix.
func (l *requestLog) count(method, suffix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.seen {
		if strings.HasPrefix(s, method+" ") && strings.HasSuffix(s, suffix) {
			n++
		}
	}
	return n
}

// runLogged runs a worker against url, its requests noted in l, until
// the test ends.
func runLogged(t *testing.T, url string, b worker.Binding, cred string, l *requestLog) {
	t.Helper()
	startWorker(t, worker.Config{Coordinator: url, Credential: cred, Bindings: []worker.Binding{b}, Concurrency: 2,
		HTTP: upload.NewHTTPClient(slog.New(slog.DiscardHandler), l)})
}

// TestWorkerLastPage: against a coordinator whose welcome takes
// FeatureLastPage, each small dataset's upload is one request, the last
// (only) page with the commit, which carries its move to Mapping too;
// every type still ends Complete. It fails if the worker sends a page
// and a commit apart.
func TestWorkerLastPage(t *testing.T) {
	c := startCoordinator(t, t.TempDir(), "127.0.0.1:0")
	company, b, cred := c.linked(sample)
	var l requestLog
	runLogged(t, c.URL, b, cred, &l)
	waitFor(t, 30*time.Second, "every type Complete", func() bool { return allComplete(c.statuses(company)) })
	types := len(c.statuses(company))
	if n := l.count("PUT", "/pages/1/commit"); n != types {
		t.Errorf("%d last pages with the commit for %d types, want one each", n, types)
	}
	if n := l.count("POST", "/commit"); n != 0 {
		t.Errorf("%d commits sent apart, want none", n)
	}
}

// TestWorkerLastPageFallback: a coordinator that answers the last page's
// request 404 without an error body (a replica of an older version behind
// the same address) gets the page and the commit apart, after the
// worker's own Mapping report, and every type still ends Complete.
func TestWorkerLastPageFallback(t *testing.T) {
	c := startCoordinator(t, t.TempDir(), "127.0.0.1:0")
	company, b, cred := c.linked(sample)
	target, _ := url.Parse(c.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/commit") {
			http.NotFound(w, r) // the mux of a coordinator without the route
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(old.Close)
	var l requestLog
	runLogged(t, old.URL, b, cred, &l)
	waitFor(t, 30*time.Second, "every type Complete", func() bool { return allComplete(c.statuses(company)) })
	types := len(c.statuses(company))
	if n := l.count("POST", "/commit"); n != types {
		t.Errorf("%d commits apart for %d types, want one each", n, types)
	}
	if n := l.count("PUT", "/pages/1"); n < types {
		t.Errorf("%d pages apart for %d types, want at least one each", n, types)
	}
}
