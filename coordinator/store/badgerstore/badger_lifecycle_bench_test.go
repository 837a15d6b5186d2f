package badgerstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// lifecycleWorkers is the concurrency of BenchmarkLifecycle.
const lifecycleWorkers = 32

// lifecycleMode is how a benchmark's datasets go from their upload's
// commit to Complete.
type lifecycleMode int

const (
	// oneCommit: FinishUpload with the lease, the commit, the results,
	// Processing, the cache and Complete in one transaction, as the hub
	// ends a small upload.
	oneCommit lifecycleMode = iota
	// commitApart: CommitUpload to Validating, then FinishUpload, as a
	// small dataset went before the commit was folded in (and as one left
	// Validating by a restart is resumed).
	commitApart
	// steps: CommitUpload, then a transaction a step (SetValidation,
	// Report to Processing, PublishCache), as a large dataset goes.
	steps
	// lastPage: no Mapping report and no page apart: FinishUpload with
	// the lease, Mapped and the page, as the hub ends a small upload
	// whose last page carries the commit (FeatureLastPage): queue,
	// claim, and one transaction.
	lastPage
)

// BenchmarkLifecycle is the small datasets per second the store takes
// through their whole life (Queue, Claim to Fetching, Mapping, a page of
// 20 records, then FinishUpload with the lease: the commit, the results,
// Processing, the cache and Complete in one transaction) from 32
// workers, each on a connection of its own, beside its limit: synced
// one-key Badger commits from 32 workers, in the same run, and the ratio
// of the two (datasets/raw-commit).
func BenchmarkLifecycle(b *testing.B) { benchLifecycle(b, oneCommit) }

// BenchmarkLifecycleCommitApart is BenchmarkLifecycle with the upload's
// commit a transaction of its own before FinishUpload.
func BenchmarkLifecycleCommitApart(b *testing.B) { benchLifecycle(b, commitApart) }

// BenchmarkLifecycleSteps is BenchmarkLifecycle with the coordinator's
// steps a transaction each (CommitUpload, SetValidation, Report to
// Processing, PublishCache), as datasets too large for FinishUpload go.
func BenchmarkLifecycleSteps(b *testing.B) { benchLifecycle(b, steps) }

// BenchmarkLifecycleLastPage is BenchmarkLifecycle with the agent's
// Mapping, its page and the commit in the one transaction of
// FinishUpload: three synced commits a dataset (queue, claim, finish).
func BenchmarkLifecycleLastPage(b *testing.B) { benchLifecycle(b, lastPage) }

func benchLifecycle(b *testing.B, mode lifecycleMode) {
	s := benchStore(b, func(s store.Backend) {
		ctx := context.Background()
		for w := range lifecycleWorkers {
			co := fmt.Sprint("co-", w)
			must(b, "CreateCompany", s.CreateCompany(ctx, store.Company{ID: co, Created: sec(0)}))
			c := store.Connection{ID: co + "-conn", CompanyID: co, Status: store.Linked, AgentID: co + "-agent", Created: sec(0)}
			must(b, "CreateConnection", s.CreateConnection(ctx, c, store.LinkCode{Hash: []byte("hash-" + co)}))
		}
	})
	page := lifecyclePage(20)
	var next atomic.Int64
	b.ResetTimer()
	runWorkers(b, b.N, &next, func(w, i int) error {
		co := fmt.Sprint("co-", w)
		return lifecycle(s, co, fmt.Sprint("ds-", i), sec(i), page, mode)
	})
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.StopTimer()

	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
	must(b, "open raw badger", err)
	defer db.Close()
	commits := max(b.N*8, 4*lifecycleWorkers)
	next.Store(0)
	start := time.Now()
	runWorkers(b, commits, &next, func(_, i int) error {
		return db.Update(func(txn *badger.Txn) error {
			return txn.Set(fmt.Appendf(nil, "k%09d", i), []byte(`{"status":"Queued"}`))
		})
	})
	rawRate := float64(commits) / time.Since(start).Seconds()
	b.ReportMetric(rate, "datasets/s")
	b.ReportMetric(rawRate, "raw-commits/s")
	b.ReportMetric(rawRate/rate, "raw-commits/dataset")
	b.ReportMetric(rate/rawRate, "datasets/raw-commit")
}

// lifecycle takes a new dataset of co from Queued to Complete.
func lifecycle(s *badgerstore.Badger, co, id string, at time.Time, page store.Page, mode lifecycleMode) error {
	ctx := context.Background()
	agent, lease := co+"-agent", "lease-"+id
	_, err := s.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: co, ConnectionID: co + "-conn",
		DataType: dataset.Customers, Now: at})
	if err == nil {
		_, err = s.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: agent, LeaseID: lease, Now: at, TTL: time.Hour})
	}
	page.AgentID, page.DatasetID, page.LeaseID = agent, id, lease
	if err == nil && mode == lastPage {
		d, err := s.FinishUpload(ctx, store.Finish{CompanyID: co, DatasetID: id, Validated: at, Now: at,
			AgentID: agent, LeaseID: lease, Committed: at, Mapped: at, Page: &page})
		if err == nil && d.Status != dataset.Complete {
			err = fmt.Errorf("dataset %s is %s", id, d.Status)
		}
		return err
	}
	if err == nil {
		_, err = s.Report(ctx, store.Report{CompanyID: co, DatasetID: id, LeaseID: lease, Actor: agent, To: dataset.Mapping, Now: at})
	}
	if err == nil {
		err = s.PutPage(ctx, page)
	}
	if err == nil && mode != oneCommit {
		_, err = s.CommitUpload(ctx, agent, id, lease, at)
	}
	if err != nil {
		return err
	}
	var d store.Dataset
	switch mode {
	case oneCommit:
		d, err = s.FinishUpload(ctx, store.Finish{CompanyID: co, DatasetID: id, Validated: at, Now: at,
			AgentID: agent, LeaseID: lease, Committed: at})
	case commitApart:
		d, err = s.FinishUpload(ctx, store.Finish{CompanyID: co, DatasetID: id, Validated: at, Now: at})
	case steps:
		err = s.SetValidation(ctx, co, id, store.ValidationResult{})
		if err == nil {
			_, err = s.Report(ctx, store.Report{CompanyID: co, DatasetID: id, Actor: store.ActorCoordinator, To: dataset.Processing, Now: at})
		}
		if err == nil {
			d, err = s.PublishCache(ctx, co, id, at)
		}
	}
	if err == nil && d.Status != dataset.Complete {
		err = fmt.Errorf("dataset %s is %s", id, d.Status)
	}
	return err
}

// lifecyclePage is a page of n customers (about 200 bytes each) with its
// line index, as the upload gives it.
func lifecyclePage(n int) store.Page {
	var data strings.Builder
	lines := make([]store.Line, n)
	for i := range n {
		id := fmt.Sprintf("r%09d", i)
		start := data.Len()
		fmt.Fprintf(&data, `{"id":%q,"customerName":"Customer %s","emailAddress":"%s@example.com","status":"Active","defaultCurrency":"EUR"}`, id, id, id)
		lines[i] = store.Line{ID: id, Start: start, End: data.Len()}
		data.WriteByte('\n')
	}
	return store.Page{N: 1, Records: n, Data: []byte(data.String()), Lines: lines}
}

// runWorkers runs fn(worker, i) for i from 0 to n-1 across
// lifecycleWorkers goroutines, failing b on the first error.
func runWorkers(b *testing.B, n int, next *atomic.Int64, fn func(w, i int) error) {
	var wg sync.WaitGroup
	for w := range lifecycleWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(w, i); err != nil {
					b.Errorf("worker %d, item %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
