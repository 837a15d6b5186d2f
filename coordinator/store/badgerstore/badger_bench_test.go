package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// benchStore runs setup on a store whose writes are not synced, to keep it
// quick, then reopens the same directory as Open does, for the timed
// part.
func benchStore(b *testing.B, setup func(s store.Backend)) *badgerstore.Badger {
	b.Helper()
	dir := b.TempDir()
	s, err := badgerstore.OpenUnsynced(dir, nil)
	must(b, "open for setup", err)
	setup(s)
	must(b, "close after setup", s.Close())
	return openAt(b, dir)
}

// benchConnections creates company co with n linked connections.
func benchConnections(b testing.TB, s store.Backend, co string, n int) {
	ctx := context.Background()
	must(b, "CreateCompany", s.CreateCompany(ctx, store.Company{ID: co, Created: sec(0)}))
	for i := range n {
		id := fmt.Sprintf("%s-conn-%d", co, i)
		c := store.Connection{ID: id, CompanyID: co, Status: store.Linked, AgentID: "agent-1", Created: sec(i)}
		must(b, "CreateConnection", s.CreateConnection(ctx, c, store.LinkCode{Hash: []byte("hash-" + id)}))
	}
}

// BenchmarkQueueDataset queues datasets on distinct connections and types,
// so none is refused, each call a synced transaction.
func BenchmarkQueueDataset(b *testing.B) {
	types := len(dataset.DataTypes)
	s := benchStore(b, func(s store.Backend) { benchConnections(b, s, "co-1", b.N/types+1) })
	ctx := b.Context()
	b.ResetTimer()
	for i := range b.N {
		_, err := s.QueueDataset(ctx, store.QueueRequest{
			ID: fmt.Sprint("ds-", i), CompanyID: "co-1", ConnectionID: fmt.Sprintf("co-1-conn-%d", i/types),
			DataType: dataset.DataTypes[i%types], Now: sec(i),
		})
		if err != nil {
			b.Fatalf("QueueDataset: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queues/s")
}

// BenchmarkQueueDatasetParallel is BenchmarkQueueDataset from GOMAXPROCS
// goroutines (times -cpu): concurrent commits share their disk syncs.
func BenchmarkQueueDatasetParallel(b *testing.B) {
	types := len(dataset.DataTypes)
	s := benchStore(b, func(s store.Backend) { benchConnections(b, s, "co-1", b.N/types+1) })
	ctx := b.Context()
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			_, err := s.QueueDataset(ctx, store.QueueRequest{
				ID: fmt.Sprint("ds-", i), CompanyID: "co-1", ConnectionID: fmt.Sprintf("co-1-conn-%d", i/types),
				DataType: dataset.DataTypes[i%types], Now: sec(i),
			})
			if err != nil {
				b.Errorf("QueueDataset: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queues/s")
}

// BenchmarkDataStatus reads the data status of a company with a long
// history and of one with a short one: the cost should not differ much.
func BenchmarkDataStatus(b *testing.B) {
	sizes := []int{80, 10_000}
	s := benchStore(b, func(s store.Backend) {
		for _, n := range sizes {
			benchHistory(b, s, fmt.Sprint("co-", n), n)
		}
	})
	for _, n := range sizes {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			co := fmt.Sprint("co-", n)
			for b.Loop() {
				st, err := s.DataStatus(b.Context(), co)
				if err != nil || len(st) != len(dataset.DataTypes) {
					b.Fatalf("DataStatus: %d types, %v", len(st), err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
		})
	}
}

// benchHistory gives company co n datasets over the data types, each driven
// through the Store to a terminal status: one in four Complete through every
// stage, the others FetchError, NotSupported or InternalError.
func benchHistory(b *testing.B, s store.Backend, co string, n int) {
	ctx := context.Background()
	benchConnections(b, s, co, 1)
	conn := co + "-conn-0"
	for i := range n {
		id := fmt.Sprintf("%s-ds-%d", co, i)
		_, err := s.QueueDataset(ctx, store.QueueRequest{
			ID: id, CompanyID: co, ConnectionID: conn,
			DataType: dataset.DataTypes[i%len(dataset.DataTypes)], Now: sec(i),
		})
		must(b, "QueueDataset", err)
		outcome := i / len(dataset.DataTypes) % 4 // every type sees every outcome
		var steps []store.Report
		coord := func(to dataset.Status) store.Report {
			return store.Report{CompanyID: co, DatasetID: id, To: to, Now: sec(i)}
		}
		agent := coord
		if outcome < 2 {
			_, err := s.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: "agent-1", LeaseID: "lease-" + id, Now: sec(i), TTL: time.Minute})
			must(b, "Claim", err)
			agent = func(to dataset.Status) store.Report {
				r := coord(to)
				r.LeaseID, r.Actor = "lease-"+id, "agent-1"
				return r
			}
		}
		switch outcome {
		case 0:
			steps = []store.Report{agent(dataset.Mapping), coord(dataset.Validating), coord(dataset.Processing), coord(dataset.Complete)}
		case 1:
			steps = []store.Report{agent(dataset.FetchError)}
		case 2:
			steps = []store.Report{coord(dataset.NotSupported)}
		case 3:
			steps = []store.Report{coord(dataset.InternalError)}
		}
		for _, r := range steps {
			_, err := s.Report(ctx, r)
			must(b, "Report", err)
		}
	}
}
