package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// writerCompanies makes what queueAll queues n datasets on: a company with
// one linked connection for every len(dataset.DataTypes) of them, so that
// no two conflict (the latest dataset of a type is kept per company).
func writerCompanies(tb testing.TB, s store.Backend, prefix string, n int) {
	tb.Helper()
	for i := range n/len(dataset.DataTypes) + 1 {
		benchConnections(tb, s, fmt.Sprintf("%s-%d", prefix, i), 1)
	}
}

// queueAll queues n datasets from writers goroutines at once, each on a
// connection and type of its own (writerCompanies'), and returns how long
// they took.
func queueAll(tb testing.TB, s store.Backend, prefix string, writers, n int) time.Duration {
	tb.Helper()
	types := len(dataset.DataTypes)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				co := fmt.Sprintf("%s-%d", prefix, i/types)
				_, err := s.QueueDataset(context.Background(), store.QueueRequest{
					ID: fmt.Sprintf("%s-ds-%d", prefix, i), CompanyID: co, ConnectionID: co + "-conn-0",
					DataType: dataset.DataTypes[i%types], Now: sec(i),
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		tb.Fatalf("QueueDataset: %v", err)
	}
	return took
}

// Thousands of writers at once never have more than MaxOpenUpdates update
// transactions open.
func TestOpenUpdatesBounded(t *testing.T) {
	const n = 4 * badgerstore.MaxOpenUpdates
	dir := t.TempDir()
	setup, err := badgerstore.OpenUnsynced(dir, nil)
	must(t, "open for setup", err)
	writerCompanies(t, setup, "co", n)
	must(t, "close after setup", setup.Close())
	s := openAt(t, dir)
	queueAll(t, s, "co", n, n)
	if got := s.PeakUpdates(); got > badgerstore.MaxOpenUpdates {
		t.Errorf("%d update transactions open at once, want at most %d", got, badgerstore.MaxOpenUpdates)
	}
}

// BenchmarkConcurrentWriters queues datasets, each a synced transaction,
// from 64 writers, then from 5,000 at once (as agents connecting at once
// do), then from 5,000 with no bound on the transactions open at once,
// and prints the commits per second of each and their ratio to the 64
// writers'. Run it with -benchtime 1x.
func BenchmarkConcurrentWriters(b *testing.B) {
	const each = 10_000 // datasets queued by each group of writers
	runs := []struct {
		name    string
		writers int
		bound   int
	}{
		{"64", 64, badgerstore.MaxOpenUpdates},
		{"5000", 5000, badgerstore.MaxOpenUpdates},
		{"5000-unbounded", 5000, 1 << 20},
	}
	for b.Loop() {
		var limit float64
		for i, r := range runs {
			co := fmt.Sprint("co-", i)
			s := benchStore(b, func(s store.Backend) { writerCompanies(b, s, co, each) })
			s.SetMaxOpenUpdates(r.bound)
			perSec := each / queueAll(b, s, co, r.writers, each).Seconds()
			if i == 0 {
				limit = perSec
			}
			b.ReportMetric(perSec, "commits/s-"+r.name)
			b.ReportMetric(perSec/limit, "ratio-"+r.name)
			must(b, "close", s.Close())
		}
	}
}
