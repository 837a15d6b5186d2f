package api

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// companyReads is the API's store counting its reads of a company.
type companyReads struct {
	Store
	n atomic.Int64
}

func (c *companyReads) Company(ctx context.Context, id string) (store.Company, error) {
	c.n.Add(1)
	return c.Store.Company(ctx, id)
}

// TestQueueReadsNoCompany: the queue call reads no company of its own
// (the queuer's reads answer a missing company's 404). Each read waits
// for the commits in flight to be synced, and a queue answer waits for
// every read before its commit. It fails if the handler reads the
// company again first.
func TestQueueReadsNoCompany(t *testing.T) {
	var reads *companyReads
	e := newEnvWith(t, func(c *Config) {
		reads = &companyReads{Store: c.Store}
		c.Store = reads
	})
	co := e.company("Queue Ltd")
	e.connection(co, "gnucash")
	reads.n.Store(0)
	e.queue(co, dataset.Invoices)
	if n := reads.n.Load(); n != 0 {
		t.Errorf("a queue call read the company %d times, want 0", n)
	}
	status, out := e.call("POST", "/companies/nope/data/queue/invoices", nil)
	e.apiError(status, out, 404, CodeNotFound)
}
