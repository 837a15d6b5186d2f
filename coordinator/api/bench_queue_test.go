package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// queueCallers is BenchmarkQueueCalls' concurrency, the load tool's
// default -queue-callers.
const queueCallers = 32

// BenchmarkQueueCalls is queue calls per second through the API (the
// key, then the queue's one transaction, which picks the connection and
// reads the sync order and the gate) on a real Badger, from queueCallers
// callers at once, each on a company of its own, beside its limit measured in the same run: synced one-key Badger
// commits from as many writers. The ratio (queues/raw-commit) is what
// the load tool's small datasets per second cannot pass while its
// callers queue them: every read of a queue call waits for the commits
// in flight (Badger's read timestamp), so the call costs a sync for each
// read it makes in a row, besides its own commit's. Run with
//
//	go test -run '^$' -bench QueueCalls -benchtime 400x ./coordinator/api/
func BenchmarkQueueCalls(b *testing.B) {
	dir := b.TempDir()
	st, err := badgerstore.Open(filepath.Join(dir, "store"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx, now := context.Background(), time.Now().UTC()
	companies := make([]string, queueCallers)
	for i := range companies {
		co := fmt.Sprintf("co-%02d", i)
		companies[i] = co
		must := func(err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
		must(st.CreateCompany(ctx, store.Company{ID: co, Name: co, Created: now}))
		must(st.CreateConnection(ctx, store.Connection{ID: co + "-conn", CompanyID: co, PlatformKey: "gnucash", Status: store.Linked,
			AgentID: co + "-agent", Created: now}, store.LinkCode{Hash: []byte("hash-" + co)}))
	}
	if err := EnsureKey(ctx, st, adminKey, "admin", store.ScopeClient, now); err != nil {
		b.Fatal(err)
	}
	srv := New(Config{Store: st, Queuer: queue.New(st), Agents: noAgents{}, Logger: slog.New(slog.DiscardHandler), PublicURL: "http://ferry.test"})
	srv.SetReady(true)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: queueCallers}}
	// Each call queues a type the company has not had queued: with no
	// agent, a queued dataset stays Queued, and the type is in progress.
	types := dataset.DataTypes
	if b.N > queueCallers*len(types) {
		b.Fatalf("at most %d calls (-benchtime %dx)", queueCallers*len(types), queueCallers*len(types))
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range queueCallers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Call i is caller i%queueCallers's i/queueCallers-th.
			for i := w; i < b.N; i += queueCallers {
				dt := types[i/queueCallers]
				path := fmt.Sprintf("%s/companies/%s/data/queue/%s", hs.URL, companies[w], dt)
				req, _ := http.NewRequest("POST", path, nil)
				req.Header.Set("Authorization", "Bearer "+adminKey)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("queue %s on %s: %s", dt, companies[w], resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	b.StopTimer()
	queues := float64(b.N) / secs
	raw := rawCommits(b, filepath.Join(dir, "raw"), queueCallers, b.N)
	b.ReportMetric(queues, "queues/s")
	b.ReportMetric(raw, "raw-commits/s")
	b.ReportMetric(queues/raw, "queues/raw-commit")
}

// rawCommits is synced one-key Badger commits per second from writers at
// once, n in all, in a database of its own in dir.
func rawCommits(b *testing.B, dir string, writers, n int) float64 {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil).
		WithMemTableSize(8 << 20).WithNumMemtables(2).WithNumCompactors(2).WithValueThreshold(64 << 10))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 300)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "k/%08d", i), val) }); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
