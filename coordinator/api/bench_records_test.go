package api

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/memtest"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// The benchmarks print figures and assert none. Run them with
//
//	go test -run '^$' -bench SortedRecords -benchtime 3x ./coordinator/api/

// benchCustomers publishes n customers to a new company's cache, in the
// store directly, and returns the company's id.
func benchCustomers(b *testing.B, st *badgerstore.Badger, n int) string {
	b.Helper()
	ctx, now := context.Background(), time.Now().UTC()
	const co, conn, agent, ds, lease = "co-bench", "conn-bench", "agent-bench", "ds-bench", "lease-bench"
	step := func(err error) {
		if err != nil {
			b.Helper()
			b.Fatal(err)
		}
	}
	step(st.CreateCompany(ctx, store.Company{ID: co, Name: "Acme", Created: now}))
	step(st.CreateConnection(ctx, store.Connection{ID: conn, CompanyID: co, PlatformKey: "csv", Status: store.Linked,
		AgentID: agent, Created: now}, store.LinkCode{Hash: []byte("bench-code-hash-0123456789abcdef")}))
	_, err := st.QueueDataset(ctx, store.QueueRequest{ID: ds, CompanyID: co, ConnectionID: conn, DataType: dataset.Customers, Now: now})
	step(err)
	_, err = st.Claim(ctx, store.ClaimRequest{DatasetID: ds, AgentID: agent, LeaseID: lease, Now: now, TTL: time.Hour})
	step(err)
	_, err = st.Report(ctx, store.Report{CompanyID: co, DatasetID: ds, LeaseID: lease, Actor: agent, To: dataset.Mapping, Now: now})
	step(err)
	const perPage = 5000
	for p := 0; p*perPage < n; p++ {
		var page bytes.Buffer
		records := 0
		for i := p * perPage; i < min(n, (p+1)*perPage); i++ {
			fmt.Fprintf(&page, `{"id":"cus-%06d","customerName":"Customer %d Ltd","contactName":"Contact %d",`+
				`"emailAddress":"c%d@example.com","phone":"+44 20 7946 %04d","defaultCurrency":"GBP","status":"Active"}`+"\n",
				i, (i*7919)%n, i, i, i%10000)
			records++
		}
		step(st.PutPage(ctx, store.Page{AgentID: agent, DatasetID: ds, LeaseID: lease, N: p + 1, Records: records, Data: page.Bytes()}))
	}
	_, err = st.CommitUpload(ctx, agent, ds, lease, now)
	step(err)
	_, err = st.Report(ctx, store.Report{CompanyID: co, DatasetID: ds, Actor: store.ActorCoordinator, To: dataset.Processing, Now: now})
	step(err)
	_, err = st.PublishCache(ctx, co, ds, now)
	step(err)
	return co
}

// BenchmarkSortedRecordsMemory asks for one record of 100,000 cached
// customers ordered by name, four requests at once, and reports the heap's
// peak above what was live before (garbage not yet collected included, as
// the process's memory holds it) and the time for the four.
func BenchmarkSortedRecordsMemory(b *testing.B) {
	const customers, clients = 100_000, 4
	st, err := badgerstore.Open(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Config{Store: st, Queuer: queue.New(st), Agents: noAgents{}, Logger: slog.New(slog.DiscardHandler), PublicURL: "http://ferry.test"})
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { hs.Close(); st.Close() })
	if err := EnsureKey(context.Background(), st, adminKey, "admin", store.ScopeClient, time.Now()); err != nil {
		b.Fatal(err)
	}
	co := benchCustomers(b, st, customers)
	url := hs.URL + "/companies/" + co + "/data/customers?pageSize=1&orderBy=customerName"
	get := func() error {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"totalResults":100000`)) {
			return fmt.Errorf("%d %.200s", resp.StatusCode, body)
		}
		return nil
	}
	if err := get(); err != nil {
		b.Fatal(err)
	}
	var peak uint64
	for b.Loop() {
		p, err := memtest.Burst(clients, func(int) error { return get() })
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
