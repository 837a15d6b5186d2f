package schedule_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/schedule"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// benchConnections is how many Linked connections the benchmark's store
// holds, each with an invoices sync every 24 hours, their last requests
// spread evenly over a day.
const benchConnections = 100_000

// BenchmarkTick measures one scheduler tick over 100,000 connections: each
// iteration moves the clock on by the tick interval (30 s) and ticks, so
// each tick finds the ~35 syncs due in that interval (queued, or moved on
// while the first is still Queued), as a running coordinator would. The
// store is set up unsynced, then reopened with synced writes for the timed
// part.
//
//	go test -run '^$' -bench Tick -benchtime 200x ./coordinator/schedule/
func BenchmarkTick(b *testing.B) {
	st, err := badgerstore.Open(benchDir(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	clk := &clock{t: t0}
	q := queue.New(st)
	q.Now = clk.Now
	s := schedule.New(schedule.Config{Store: st, Queuer: q, Now: clk.Now})
	ctx := context.Background()
	clk.Add(time.Hour) // the first entries fall due
	var total schedule.Result
	b.ResetTimer()
	for b.Loop() {
		clk.Add(30 * time.Second)
		res, err := s.Tick(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total.Queued += res.Queued
		total.Busy += res.Busy
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.Queued+total.Busy)/n, "due/tick")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/n, "µs/tick")
}

// BenchmarkTickNothingDue is a tick over 100,000 connections none of which
// is due: what a tick costs when the store has nothing for it.
func BenchmarkTickNothingDue(b *testing.B) {
	st, err := badgerstore.Open(benchDir(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	clk := &clock{t: t0.Add(time.Hour - time.Second)}
	q := queue.New(st)
	q.Now = clk.Now
	s := schedule.New(schedule.Config{Store: st, Queuer: q, Now: clk.Now})
	ctx := context.Background()
	for b.Loop() {
		res, err := s.Tick(ctx)
		if err != nil || res.Queued+res.Busy+res.Moved+res.Dropped != 0 {
			b.Fatalf("tick: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/tick")
}

var (
	benchOnce   sync.Once
	benchDirErr error
	// benchDirPath is the store both benchmarks share, set up once per run
	// and removed by TestMain.
	benchDirPath string
)

// benchDir is the shared benchmark store's directory.
func benchDir(b *testing.B) string {
	benchOnce.Do(func() {
		benchDirPath, benchDirErr = os.MkdirTemp("", "ferry-schedule-bench-")
		if benchDirErr == nil {
			setupBench(b, benchDirPath)
		}
	})
	if benchDirErr != nil {
		b.Fatal(benchDirErr)
	}
	return benchDirPath
}

// setupBench fills dir: 1,000 companies of 100 Linked connections, each
// with one invoices dataset, requested so that the schedule entries fall
// due from t0+1h on, evenly over a day.
func setupBench(b *testing.B, dir string) {
	b.Helper()
	st, err := badgerstore.OpenNoSync(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	only := make([]store.SyncSetting, 0, len(dataset.DataTypes))
	for _, dt := range dataset.DataTypes {
		only = append(only, store.SyncSetting{DataType: dt, SyncSchedule: 0})
	}
	for i := range only {
		if only[i].DataType == dataset.Invoices {
			only[i].SyncSchedule = 24
		}
	}
	if err := st.SetProfileSyncSettings(ctx, only); err != nil {
		b.Fatal(err)
	}
	step := 24 * time.Hour / benchConnections
	for i := range benchConnections {
		co := fmt.Sprintf("co-%d", i/100)
		if i%100 == 0 {
			if err := st.CreateCompany(ctx, store.Company{ID: co, Name: co, Created: t0}); err != nil {
				b.Fatal(err)
			}
		}
		id := fmt.Sprintf("conn-%d", i)
		c := store.Connection{ID: id, CompanyID: co, PlatformKey: "gnucash", Status: store.Linked, AgentID: "agent-" + co, Created: t0}
		if err := st.CreateConnection(ctx, c, store.LinkCode{Hash: []byte("h-" + id)}); err != nil {
			b.Fatal(err)
		}
		_, err := st.QueueDataset(ctx, store.QueueRequest{
			ID: "ds-" + id, CompanyID: co, ConnectionID: id, DataType: dataset.Invoices,
			Now: t0.Add(time.Hour + time.Duration(i)*step - 24*time.Hour),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSettingsChange is a change of the client's invoices schedule
// with 100,000 connections following it: every connection's entry moves,
// in batches of 500 connections a transaction.
//
//	go test -run '^$' -bench SettingsChange -benchtime 2x ./coordinator/schedule/
func BenchmarkSettingsChange(b *testing.B) {
	st, err := badgerstore.Open(benchDir(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	hours := []int{12, 24}
	i := 0
	for b.Loop() {
		err := st.SetProfileSyncSettings(ctx, []store.SyncSetting{{DataType: dataset.Invoices, SyncSchedule: hours[i%2]}})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/change")
}
