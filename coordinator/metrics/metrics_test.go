package metrics_test

import (
	"runtime"

	"slices"

	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func scrape(t testing.TB, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestRegistryPerInstance: two coordinators' metrics never mix, and a nil
// *Metrics records nothing without failing.
func TestRegistryPerInstance(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.LeaseExpired()
	a.Uploaded(100, 3)
	a.APIRequest("GET /agents", 200)
	var none *metrics.Metrics
	none.LeaseExpired()
	none.DatasetEnded("Complete", time.Second)
	if got := scrape(t, a); !strings.Contains(got, "ferry_lease_expiries_total 1") || !strings.Contains(got, "ferry_upload_records_total 3") ||
		!strings.Contains(got, `ferry_api_requests_total{code="200",route="GET /agents"} 1`) {
		t.Errorf("a's scrape lacks its counts:\n%s", got)
	}
	if got := scrape(t, b); !strings.Contains(got, "ferry_lease_expiries_total 0") {
		t.Errorf("b's scrape has a's counts:\n%s", got)
	}
}

// BenchmarkScrapeDatasets is the cost of a scrape of a store holding
// 10,000 datasets: ms/scrape once the store's counts are up to date (the
// steady state), ms/first-scrape for the scrape right after the 10,000
// were queued, which folds their 10,000 count changes.
func BenchmarkScrapeDatasets(b *testing.B) {
	st, err := badgerstore.Open(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.CreateCompany(ctx, store.Company{ID: "co", Name: "Co", Created: t0}); err != nil {
		b.Fatal(err)
	}
	const conns = 1250
	for i := range conns {
		id := fmt.Sprint("conn-", i)
		c := store.Connection{ID: id, CompanyID: "co", Status: store.Linked, AgentID: "agent-1", Created: t0}
		if err := st.CreateConnection(ctx, c, store.LinkCode{Hash: []byte("hash-" + id)}); err != nil {
			b.Fatal(err)
		}
		for j, dt := range dataset.DataTypes {
			_, err := st.QueueDataset(ctx, store.QueueRequest{ID: fmt.Sprintf("ds-%d-%d", i, j), CompanyID: "co", ConnectionID: id, DataType: dt, Now: t0})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	m := metrics.New()
	m.WatchDatasets(st)
	want := fmt.Sprintf(`ferry_datasets{status="Queued"} %d`, conns*len(dataset.DataTypes))
	start := time.Now()
	if got := scrape(b, m); !strings.Contains(got, want) {
		b.Fatalf("first scrape lacks %s", want)
	}
	first := time.Since(start)
	b.ResetTimer()
	for range b.N {
		if got := scrape(b, m); !strings.Contains(got, want) {
			b.Fatalf("scrape lacks %s", want)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/scrape")
	b.ReportMetric(first.Seconds()*1000, "ms/first-scrape")
}

// online is a hub with a fixed count of agents online, a third of them
// connected to this replica.
type online int

func (o online) OnlineCount() int    { return int(o) }
func (o online) ConnectedCount() int { return int(o) / 3 }

// TestFeedAndAgents: the feed's sequence, its subscribers' gaps and the
// agents online are read from what is watched.
func TestFeedAndAgents(t *testing.T) {
	m := metrics.New()
	f := store.NewFeed(4)
	f.Publish(store.Change{Deliveries: 1})
	f.Publish(store.Change{Deliveries: 1})
	m.WatchFeed(f)
	m.WatchAgentsOnline(online(3))
	m.FeedGap("hub")
	got := scrape(t, m)
	for _, want := range []string{"ferry_change_feed_sequence 2", `ferry_change_feed_gaps_total{subscriber="hub"} 1`, "ferry_agents_online 3", "ferry_agents_connected 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("scrape lacks %s:\n%s", want, got)
		}
	}
}

// TestFollowCountsTransitions: the transitions a real store publishes
// are counted by the status entered, and a gap is counted as one.
func TestFollowCountsTransitions(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := metrics.New()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.Follow(ctx, st.Feed().Subscribe(st.Feed().Head())) }()
	defer func() { cancel(); <-done }()

	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateCompany(ctx, store.Company{ID: "co", Name: "Co", Created: now}))
	must(st.CreateConnection(ctx, store.Connection{ID: "cn", CompanyID: "co", PlatformKey: "gnucash", Status: store.PendingAuth, Created: now},
		store.LinkCode{Hash: []byte("code"), Expires: now.Add(time.Hour)}))
	for _, dt := range []dataset.DataType{dataset.Invoices, dataset.Customers} {
		d, err := st.QueueDataset(ctx, store.QueueRequest{ID: "ds-" + string(dt), CompanyID: "co", ConnectionID: "cn", DataType: dt, Now: now})
		must(err)
		_, err = st.Report(ctx, store.Report{CompanyID: "co", DatasetID: d.ID, Actor: store.ActorCoordinator, To: dataset.NotSupported, Now: now})
		must(err)
	}
	want := []string{`ferry_dataset_transitions_total{status="Queued"} 2`, `ferry_dataset_transitions_total{status="NotSupported"} 2`,
		`ferry_dataset_transitions_total{status="Complete"} 0`}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, m)
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(got, w) })
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrape lacks %v:\n%s", missing, got)
		}
		runtime.Gosched()
	}

	// A subscriber that fell behind counts the gap.
	f := store.NewFeed(1)
	sub := f.Subscribe(0)
	f.Publish(store.Change{Deliveries: 1})
	f.Publish(store.Change{Deliveries: 1})
	gctx, gcancel := context.WithCancel(t.Context())
	gdone := make(chan struct{})
	go func() { defer close(gdone); m.Follow(gctx, sub) }()
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(scrape(t, m), `ferry_change_feed_gaps_total{subscriber="metrics"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("the gap was not counted")
		}
		runtime.Gosched()
	}
	gcancel()
	<-gdone
}
