package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestDatasetCountsAcrossRestart: the counts by status survive a restart
// (folded or not yet), and a store written before they were kept is
// counted once when it opens.
func TestDatasetCountsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	open := func() *badgerstore.Badger {
		b, err := badgerstore.Open(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := func(b *badgerstore.Badger, when string, queued, fetching, complete int) {
		t.Helper()
		got, err := b.DatasetCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got[dataset.Queued] != queued || got[dataset.Fetching] != fetching || got[dataset.Complete] != complete || len(got) != len(dataset.Statuses) {
			t.Errorf("%s: counts %v, want Queued %d, Fetching %d, Complete %d", when, got, queued, fetching, complete)
		}
	}
	b := open()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.CreateCompany(ctx, store.Company{ID: "co", Name: "Co", Created: t0}))
	must(b.CreateConnection(ctx, store.Connection{ID: "conn", CompanyID: "co", Status: store.Linked, AgentID: "ag", Created: t0},
		store.LinkCode{Hash: []byte("h")}))
	queue := func(i int) {
		_, err := b.QueueDataset(ctx, store.QueueRequest{ID: fmt.Sprint("ds-", i), CompanyID: "co", ConnectionID: "conn",
			DataType: dataset.DataTypes[i], Now: t0})
		must(err)
	}
	queue(0)
	queue(1)
	_, err := b.Claim(ctx, store.ClaimRequest{DatasetID: "ds-0", AgentID: "ag", LeaseID: "l", Now: t0, TTL: time.Minute})
	must(err)
	want(b, "before the restart", 1, 1, 0) // folds
	queue(2)                               // not folded before the restart
	must(b.Close())

	b = open()
	want(b, "after a restart", 2, 1, 0)
	must(b.ForgetCounts())
	must(b.Close())

	b = open()
	want(b, "a store without counts, opened", 2, 1, 0)
	_, err = b.Claim(ctx, store.ClaimRequest{DatasetID: "ds-1", AgentID: "ag", LeaseID: "l1", Now: t0, TTL: time.Minute})
	must(err)
	want(b, "then a claim", 1, 2, 0)
	must(b.Close())
}
