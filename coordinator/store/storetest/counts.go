package storetest

import (
	"fmt"
	"sync"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// wantCounts checks DatasetCounts against every dataset read one by one.
func (f *fixture) wantCounts(when string) {
	f.Helper()
	want := map[dataset.Status]int{}
	for _, s := range dataset.Statuses {
		want[s] = 0
	}
	cos, err := f.s.Companies(f.ctx)
	noErr(f, "Companies", err)
	for _, co := range cos {
		ds, err := f.s.Datasets(f.ctx, co.ID)
		noErr(f, "Datasets", err)
		for _, d := range ds {
			want[d.Status]++
		}
	}
	got, err := f.s.DatasetCounts(f.ctx)
	noErr(f, "DatasetCounts", err)
	eq(f, "dataset counts "+when, fmt.Sprint(got), fmt.Sprint(want))
}

// testDatasetCounts: the counts by status follow every way a dataset is
// written or deleted: queue, claim, reports, lease expiry, unlink, company
// deletion, and concurrent writers.
func testDatasetCounts(f *fixture) {
	f.wantCounts("of an empty store")
	f.linked("co-1", "conn-1", "agent-1")
	f.linked("co-2", "conn-2", "agent-1")
	f.queue("co-1", "conn-1", "ds-done", dataset.Invoices, 1)
	f.queue("co-1", "conn-1", "ds-expire", dataset.Bills, 1)
	f.queue("co-1", "conn-1", "ds-fail", dataset.Customers, 1)
	f.queue("co-2", "conn-2", "ds-other", dataset.Invoices, 1)
	f.wantCounts("after queueing")
	f.claim("ds-expire", "agent-1", "lease-x", 2)
	f.wantCounts("after a claim")
	f.complete("co-1", "ds-done", "agent-1", 3)
	f.wantCounts("after a dataset completed")
	f.fail("co-1", "ds-fail", "agent-1", 10)
	f.wantCounts("after a dataset failed")
	_, err := f.s.ExpireLeases(f.ctx, at(2).Add(ttl))
	noErr(f, "ExpireLeases", err)
	eq(f, "expired lease requeued", f.dataset("co-1", "ds-expire").Status, dataset.Queued)
	f.wantCounts("after a lease expired")
	_, err = f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
		c.Status = store.Unlinked
		return nil
	})
	noErr(f, "UpdateConnection(Unlinked)", err)
	eq(f, "unlinked dataset", f.dataset("co-1", "ds-expire").Status, dataset.AuthError)
	f.wantCounts("after unlinking")

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{ID: fmt.Sprint("ds-c", i), CompanyID: "co-2",
				ConnectionID: "conn-2", DataType: dataset.DataTypes[i], Now: at(20)})
			if err != nil && i != 5 { // invoices (5) is still in progress
				f.Errorf("concurrent QueueDataset(%d): %v", i, err)
			}
		}()
	}
	wg.Wait()
	f.wantCounts("after concurrent queueing")
	noErr(f, "DeleteCompany", f.s.DeleteCompany(f.ctx, "co-1"))
	f.wantCounts("after a company was deleted")
	got, err := f.s.DatasetCounts(f.ctx)
	noErr(f, "DatasetCounts", err)
	eq(f, "Complete left after the deletion", got[dataset.Complete], 0)
	eq(f, "Queued left after the deletion", got[dataset.Queued], 8)
}
