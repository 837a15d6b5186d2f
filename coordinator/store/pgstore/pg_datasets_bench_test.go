package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// The benchmarks of the dataset half of the store run on a server of their
// own with fsync on, so that every commit is a real one, and measure in the
// same run the limit they are held against: a raw COPY of the same rows,
// raw single-row INSERT commits at the same concurrency.

// benchDB starts a durable server and returns the URL of a new database
// on it and a PG open on that database with room for workers connections.
func benchDB(b *testing.B, workers int) (string, *pgstore.PG) {
	b.Helper()
	srv, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	url, err := srv.CreateDatabase(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	p, err := pgstore.Open(b.Context(), url, pgstore.Options{MaxConns: int32(workers + 8)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return url, p
}

// benchConn is company co with connection co-conn linked to agent co-agent.
func benchConn(b *testing.B, p *pgstore.PG, co string) {
	b.Helper()
	ctx := context.Background()
	benchMust(b, "CreateCompany", p.CreateCompany(ctx, store.Company{ID: co, Name: co, Created: time.Unix(0, 0)}))
	c := store.Connection{ID: co + "-conn", CompanyID: co, PlatformKey: "gnucash", Status: store.Linked,
		AgentID: co + "-agent", Created: time.Unix(0, 0)}
	code := store.LinkCode{Hash: []byte("code-" + co), Expires: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	benchMust(b, "CreateConnection", p.CreateConnection(ctx, c, code))
}

func benchMust(b testing.TB, what string, err error) {
	b.Helper()
	if err != nil {
		b.Fatalf("%s: %v", what, err)
	}
}

// benchPage is page n of perPage records (about 200 bytes each, as a
// customer is), with its line index as the upload gives it.
func benchPage(n, perPage int) store.Page {
	var (
		data  strings.Builder
		lines = make([]store.Line, perPage)
	)
	for i := range perPage {
		id := fmt.Sprintf("r%09d", n*perPage+i)
		start := data.Len()
		fmt.Fprintf(&data, `{"id":%q,"name":"Customer %s","email":"%s@example.com","balance":1234.56,"currency":"EUR","address":{"line1":"1 High Street","city":"Springfield"}}`, id, id, id)
		lines[i] = store.Line{ID: id, Start: start, End: data.Len()}
		data.WriteByte('\n')
	}
	return store.Page{N: n + 1, Records: perPage, Data: []byte(data.String()), Lines: lines}
}

// toProcessing takes a new dataset of co through an upload of pages to
// Processing, ready to publish.
func toProcessing(p *pgstore.PG, co, id string, at time.Time, pages []store.Page) error {
	if err := toValidating(p, co, id, at, pages); err != nil {
		return err
	}
	_, err := p.Report(context.Background(), store.Report{CompanyID: co, DatasetID: id, Actor: store.ActorCoordinator,
		To: dataset.Processing, Now: at})
	if err != nil {
		return fmt.Errorf("Report(Processing): %w", err)
	}
	return nil
}

// toValidating takes a new dataset of co through an upload of pages to
// Validating, as the agent leaves it.
func toValidating(p *pgstore.PG, co, id string, at time.Time, pages []store.Page) error {
	return staged(p, co, id, at, pages, true)
}

// staged takes a new dataset of co through an upload of pages, and to
// Validating if commit.
func staged(p *pgstore.PG, co, id string, at time.Time, pages []store.Page, commit bool) error {
	ctx := context.Background()
	agent, lease := co+"-agent", "lease-"+id
	_, err := p.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: co, ConnectionID: co + "-conn",
		DataType: dataset.Customers, Now: at})
	if err != nil {
		return fmt.Errorf("QueueDataset: %w", err)
	}
	_, err = p.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: agent, LeaseID: lease, Now: at, TTL: time.Hour})
	if err != nil {
		return fmt.Errorf("Claim: %w", err)
	}
	_, err = p.Report(ctx, store.Report{CompanyID: co, DatasetID: id, LeaseID: lease, Actor: agent,
		To: dataset.Mapping, Now: at})
	if err != nil {
		return fmt.Errorf("Report(Mapping): %w", err)
	}
	for _, pg := range pages {
		pg.AgentID, pg.DatasetID, pg.LeaseID = agent, id, lease
		if err := p.PutPage(ctx, pg); err != nil {
			return fmt.Errorf("PutPage: %w", err)
		}
	}
	if !commit {
		return nil
	}
	if _, err = p.CommitUpload(ctx, agent, id, lease, at); err != nil {
		return fmt.Errorf("CommitUpload: %w", err)
	}
	return nil
}

// BenchmarkPublishCache is the records per second PublishCache writes
// into the cache (snapshots of 50,000 records in pages of 5,000, each
// replacing the last), beside a raw COPY of the same rows, in one
// transaction, into a table of the records table's shape.
func BenchmarkPublishCache(b *testing.B) {
	const pages, perPage = 10, 5000
	url, p := benchDB(b, 1)
	benchConn(b, p, "co")
	staged := make([]store.Page, pages)
	for i := range staged {
		staged[i] = benchPage(i, perPage)
	}
	raw := rawPool(b, url, 1)
	ctx := b.Context()
	if _, err := raw.Exec(ctx, "CREATE TABLE scratch (LIKE records INCLUDING ALL)"); err != nil {
		b.Fatal(err)
	}
	var publish, copying time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id := fmt.Sprint("ds-", i)
		benchMust(b, "toProcessing", toProcessing(p, "co", id, time.Unix(int64(i), 0), staged))
		b.StartTimer()
		start := time.Now()
		d, err := p.PublishCache(ctx, "co", id, time.Unix(int64(i), 0))
		if err != nil || d.Status != dataset.Complete {
			b.Fatalf("PublishCache: %s, %v", d.Status, err)
		}
		publish += time.Since(start)
		b.StopTimer()
		copying += rawCopy(b, raw, id, staged)
		b.StartTimer()
	}
	records := float64(b.N * pages * perPage)
	b.ReportMetric(records/publish.Seconds(), "records/s")
	b.ReportMetric(records/copying.Seconds(), "raw-copy-records/s")
	b.ReportMetric(copying.Seconds()/publish.Seconds(), "publish/raw")
}

// rawPool is a pool of size conns on url, closed when b ends.
func rawPool(b *testing.B, url string, conns int32) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// rawCopy copies the records of pages, as PublishCache writes them, into
// scratch in one transaction and returns how long that took, then empties
// scratch (untimed).
func rawCopy(b *testing.B, raw *pgxpool.Pool, id string, pages []store.Page) time.Duration {
	b.Helper()
	ctx := b.Context()
	var rows [][]any
	seq := int64(0)
	for _, pg := range pages {
		for _, l := range pg.Lines {
			seq++
			rows = append(rows, []any{id, l.ID, seq, pg.Data[l.Start:l.End]})
		}
	}
	start := time.Now()
	err := pgx.BeginFunc(ctx, raw, func(t pgx.Tx) error {
		_, err := t.CopyFrom(ctx, pgx.Identifier{"scratch"}, []string{"dataset_id", "id", "seq", "body"}, pgx.CopyFromRows(rows))
		return err
	})
	took := time.Since(start)
	benchMust(b, "raw COPY", err)
	_, err = raw.Exec(ctx, "TRUNCATE scratch")
	benchMust(b, "TRUNCATE", err)
	return took
}

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
	// small dataset went before the commit was folded in.
	commitApart
	// steps: CommitUpload, then a transaction a step, as a large dataset
	// goes.
	steps
	// lastPage: no Mapping report and no page apart: FinishUpload with
	// the lease, Mapped and the page (FeatureLastPage): queue, claim, and
	// one transaction.
	lastPage
)

// BenchmarkLifecycle is the small datasets per second the store takes
// through their whole life (Queue, Claim to Fetching, Mapping, a page of
// 20 records, then FinishUpload with the lease: the commit, the results,
// Processing, the cache and Complete in one transaction) from 32
// workers, each on a connection of its own, beside the rate of raw
// single-row INSERT commits from 32 workers, without and with a NOTIFY.
func BenchmarkLifecycle(b *testing.B) { benchLifecycle(b, oneCommit) }

// BenchmarkLifecycleCommitApart is BenchmarkLifecycle with the upload's
// commit a transaction of its own before FinishUpload.
func BenchmarkLifecycleCommitApart(b *testing.B) { benchLifecycle(b, commitApart) }

// BenchmarkLifecycleSteps is BenchmarkLifecycle with the coordinator's
// steps a transaction each (SetValidation, Report to Processing,
// PublishCache), as datasets too large for FinishUpload go.
func BenchmarkLifecycleSteps(b *testing.B) { benchLifecycle(b, steps) }

// BenchmarkLifecycleLastPage is BenchmarkLifecycle with the agent's
// Mapping, its page and the commit in the one transaction of
// FinishUpload: three commits a dataset (queue, claim, finish).
func BenchmarkLifecycleLastPage(b *testing.B) { benchLifecycle(b, lastPage) }

func benchLifecycle(b *testing.B, mode lifecycleMode) {
	url, p := benchDB(b, lifecycleWorkers)
	for w := range lifecycleWorkers {
		benchConn(b, p, fmt.Sprint("co-", w))
	}
	page := benchPage(0, 20)
	ctx := b.Context()
	var next atomic.Int64
	b.ResetTimer()
	runWorkers(b, lifecycleWorkers, b.N, &next, func(w, i int) error {
		co := fmt.Sprint("co-", w)
		id := uuid.NewString() // as the API makes them
		at := time.Unix(int64(i), 0)
		if mode == lastPage {
			return lastPageLifecycle(p, co, id, at, page)
		}
		if err := staged(p, co, id, at, []store.Page{page}, mode != oneCommit); err != nil {
			return err
		}
		var (
			d   store.Dataset
			err error
		)
		switch mode {
		case oneCommit:
			d, err = p.FinishUpload(ctx, store.Finish{CompanyID: co, DatasetID: id, Validated: at, Now: at,
				AgentID: co + "-agent", LeaseID: "lease-" + id, Committed: at})
		case commitApart:
			d, err = p.FinishUpload(ctx, store.Finish{CompanyID: co, DatasetID: id, Validated: at, Now: at})
		case steps:
			d, err = finishSteps(p, co, id, at)
		}
		if err == nil && d.Status != dataset.Complete {
			err = fmt.Errorf("dataset %s is %s", id, d.Status)
		}
		return err
	})
	elapsed := b.Elapsed()
	b.StopTimer()

	raw := rawPool(b, url, lifecycleWorkers)
	if _, err := raw.Exec(ctx, "CREATE TABLE scratch (id bigint PRIMARY KEY, doc jsonb NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	commits := max(b.N*8, 4*lifecycleWorkers)
	next.Store(0)
	start := time.Now()
	runWorkers(b, lifecycleWorkers, commits, &next, func(_, i int) error {
		_, err := raw.Exec(ctx, "INSERT INTO scratch (id, doc) VALUES ($1, $2)", i, `{"status":"Queued"}`)
		return err
	})
	rawRate := float64(commits) / time.Since(start).Seconds()
	// The same with a NOTIFY in each, as every transaction of the store
	// that changes a dataset sends: PostgreSQL commits the transactions
	// that notify one at a time.
	next.Store(0)
	start = time.Now()
	runWorkers(b, lifecycleWorkers, commits, &next, func(_, i int) error {
		_, err := raw.Exec(ctx, `WITH row AS (INSERT INTO scratch (id, doc) VALUES ($1, $2))
			SELECT pg_notify('ferry_bench', 'x')`, commits+i, `{"status":"Queued"}`)
		return err
	})
	notifyRate := float64(commits) / time.Since(start).Seconds()
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "datasets/s")
	b.ReportMetric(rawRate, "raw-commits/s")
	b.ReportMetric(rawRate/rate, "raw-commits/dataset")
	b.ReportMetric(notifyRate, "raw-notify-commits/s")
	b.ReportMetric(notifyRate/rate, "raw-notify-commits/dataset")
	b.ReportMetric(rate/notifyRate, "datasets/raw-notify-commit")
}

// lastPageLifecycle queues and claims a dataset, then ends it with its
// Mapping, page and commit in FinishUpload's one transaction.
func lastPageLifecycle(p *pgstore.PG, co, id string, at time.Time, page store.Page) error {
	ctx := context.Background()
	agent, lease := co+"-agent", "lease-"+id
	_, err := p.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: co, ConnectionID: co + "-conn",
		DataType: dataset.Customers, Now: at})
	if err == nil {
		_, err = p.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: agent, LeaseID: lease, Now: at, TTL: time.Hour})
	}
	if err != nil {
		return err
	}
	page.AgentID, page.DatasetID, page.LeaseID = agent, id, lease
	d, err := p.FinishUpload(ctx, store.Finish{CompanyID: co, DatasetID: id, Validated: at, Now: at,
		AgentID: agent, LeaseID: lease, Committed: at, Mapped: at, Page: &page})
	if err == nil && d.Status != dataset.Complete {
		err = fmt.Errorf("dataset %s is %s", id, d.Status)
	}
	return err
}

// finishSteps takes a Validating dataset to Complete a transaction a
// step, as the publisher did before FinishUpload.
func finishSteps(p *pgstore.PG, co, id string, at time.Time) (store.Dataset, error) {
	ctx := context.Background()
	if err := p.SetValidation(ctx, co, id, store.ValidationResult{}); err != nil {
		return store.Dataset{}, err
	}
	_, err := p.Report(ctx, store.Report{CompanyID: co, DatasetID: id, Actor: store.ActorCoordinator,
		To: dataset.Processing, Now: at})
	if err != nil {
		return store.Dataset{}, err
	}
	return p.PublishCache(ctx, co, id, at)
}

// runWorkers runs fn(worker, i) for i from 0 to n-1 across workers
// goroutines, failing b on the first error.
func runWorkers(b *testing.B, workers, n int, next *atomic.Int64, fn func(w, i int) error) {
	var wg sync.WaitGroup
	for w := range workers {
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
