package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(tb testing.TB) *badgerstore.Badger {
	st, err := badgerstore.Open(tb.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// seeded is what seed made: the counts the summary must give.
type seeded struct {
	agents, revoked, online, overDay int
	versions, oses                   map[string]int
}

// seed creates n agents, through 32 writers: agent i runs version
// 1.0.(i%3) on linux or windows (i%2), was last seen an hour ago or, for
// every fifth, two days ago; every third is online (its channel held);
// every hundredth is revoked.
func seed(tb testing.TB, st store.Backend, n int, now time.Time) seeded {
	ctx := context.Background()
	s := seeded{versions: map[string]int{}, oses: map[string]int{}}
	agent := func(i int) store.Agent {
		a := store.Agent{ID: fmt.Sprintf("ag-%05d", i), CredentialHash: []byte(fmt.Sprintf("cred-%05d", i)),
			Created: now.Add(-72 * time.Hour), Version: fmt.Sprintf("1.0.%d", i%3), OS: []string{"linux", "windows"}[i%2],
			LastSeen: now.Add(-time.Hour)}
		if i%5 == 0 {
			a.LastSeen = now.Add(-48 * time.Hour)
		}
		if i%100 == 99 {
			a.Revoked = now.Add(-time.Hour)
		}
		return a
	}
	for i := range n {
		a := agent(i)
		if !a.Revoked.IsZero() {
			s.revoked++
			continue
		}
		s.agents++
		s.versions[a.Version]++
		s.oses[a.OS]++
		if i%3 == 0 {
			s.online++
		} else if i%5 == 0 {
			s.overDay++
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				a := agent(i)
				if err := st.CreateAgent(ctx, a); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 && a.Revoked.IsZero() {
					if _, err := st.ClaimChannel(ctx, a.ID, "replica-1"); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return s
}

// TestSummary checks the summary of 3,000 agents against what was
// seeded, the datasets of the last day read at start and then counted
// from the feed, and that the agents' part is read once a Refresh.
func TestSummary(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st := openStore(t)
	ctx := t.Context()
	want := seed(t, st, 3000, clk.Now())

	// Two companies: one whose connection (bound to ag-00001) was
	// deauthorized, so its datasets end AuthError at once; one Linked to
	// ag-00002 with a dataset Queued.
	for i, status := range []store.ConnectionStatus{store.Deauthorized, store.Linked} {
		co := fmt.Sprintf("co-%d", i)
		if err := st.CreateCompany(ctx, store.Company{ID: co, Name: co, Created: clk.Now()}); err != nil {
			t.Fatal(err)
		}
		c := store.Connection{ID: fmt.Sprintf("cn-%d", i), CompanyID: co, PlatformKey: "gnucash", Status: status,
			AgentID: fmt.Sprintf("ag-%05d", i+1), Created: clk.Now()}
		if err := st.CreateConnection(ctx, c, store.LinkCode{Hash: []byte(c.ID), CompanyID: co, ConnectionID: c.ID, Expires: clk.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	queue := func(co, conn string, dt dataset.DataType) {
		t.Helper()
		_, err := st.QueueDataset(ctx, store.QueueRequest{ID: fmt.Sprintf("ds-%s-%s", conn, dt), CompanyID: co, ConnectionID: conn,
			DataType: dt, Now: clk.Now(), Message: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	queue("co-0", "cn-0", dataset.Invoices)
	queue("co-0", "cn-0", dataset.Bills)
	queue("co-1", "cn-1", dataset.Invoices)

	f := New(Config{Store: st, Feed: st.Feed(), Logger: slog.New(slog.DiscardHandler), Now: clk.Now, Refresh: time.Minute})
	f.Start()
	defer f.Close()
	summary := func() Summary {
		t.Helper()
		s, err := f.Summary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitFor := func(what string, cond func(Summary) bool) Summary {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := summary()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, s.Datasets)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	s := waitFor("the last day read", func(s Summary) bool { return s.Datasets[dataset.AuthError] == 2 })
	checks := []struct {
		name      string
		got, want any
	}{
		{"agents", s.FleetAgents.Agents, want.agents},
		{"revoked", s.Revoked, want.revoked},
		{"online", s.Online, want.online},
		{"offline", s.Offline, want.agents - want.online},
		{"offline over a day", s.OfflineOverDay, want.overDay},
		{"versions", len(s.Versions), 3},
		{"oses", len(s.OSes), 2},
		{"longest offline", len(s.LongestOffline), rules.MaxFleetList},
		{"longest offline first", s.LongestOffline[0].LastSeen, clk.Now().Add(-48 * time.Hour)},
		{"queued", s.Datasets[dataset.Queued], 1},
		{"datasets", len(s.Datasets), len(dataset.Statuses)},
		{"error types", fmt.Sprint(s.ErrorTypes), "[{bills 1 0} {invoices 1 0}]"},
		{"error agents", fmt.Sprint(s.ErrorAgents), "[{ag-00001 2 0}]"},
		{"online history", len(s.OnlineHistory), 1},
	}
	for _, v := range s.Versions {
		checks = append(checks, struct {
			name      string
			got, want any
		}{"version " + v.Name, v.N, want.versions[v.Name]})
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// From the feed: another error, on the running fleet.
	queue("co-0", "cn-0", dataset.Customers)
	waitFor("the feed's change counted", func(s Summary) bool { return s.Datasets[dataset.AuthError] == 3 })

	// The agents' part is read once a Refresh: a new agent shows after it.
	if err := st.CreateAgent(ctx, store.Agent{ID: "ag-new", CredentialHash: []byte("new"), Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := summary().FleetAgents.Agents; got != want.agents {
		t.Errorf("agents within the refresh: %d, want %d (the last reading)", got, want.agents)
	}
	clk.Add(time.Minute)
	s = summary()
	if s.FleetAgents.Agents != want.agents+1 || len(s.OnlineHistory) != 2 {
		t.Errorf("after the refresh: %d agents, %d points; want %d, 2", s.FleetAgents.Agents, len(s.OnlineHistory), want.agents+1)
	}
	// A day later the datasets have left the counts.
	clk.Add(Day + time.Hour)
	if s := summary(); s.Datasets[dataset.AuthError] != 0 || len(s.ErrorTypes) != 0 {
		t.Errorf("a day later: %v, %v; want no datasets", s.Datasets, s.ErrorTypes)
	}
}

// BenchmarkFleetSummary measures GET /fleet's work at 15,000 agents:
// a call within the refresh (every call but one a Refresh), and a
// refresh (the agents read from the store), each beside one store read of
// an agent in the same run.
//
//	go test -run '^$' -bench FleetSummary -benchtime 2000x ./coordinator/fleet/
func BenchmarkFleetSummary(b *testing.B) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st := openStore(b)
	seed(b, st, 15000, clk.Now())
	ctx := context.Background()
	f := New(Config{Store: st, Feed: st.Feed(), Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	// One agent read, the limit: the cheapest call a support endpoint makes.
	const reads = 2000
	start := time.Now()
	for i := range reads {
		if _, err := st.Agent(ctx, fmt.Sprintf("ag-%05d", i%15000)); err != nil {
			b.Fatal(err)
		}
	}
	perRead := time.Since(start) / reads
	b.Run("Cached", func(b *testing.B) {
		if _, err := f.Summary(ctx); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := f.Summary(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(perRead), "agent-reads/op")
		b.ReportMetric(float64(perRead), "ns/agent-read")
	})
	b.Run("Refresh", func(b *testing.B) {
		for range b.N {
			clk.Add(DefaultRefresh)
			if _, err := f.Summary(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(perRead), "agent-reads/op")
		b.ReportMetric(float64(perRead), "ns/agent-read")
	})
}
