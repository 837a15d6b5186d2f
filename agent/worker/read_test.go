package worker_test

import (
	"context"
	"maps"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/source/gnucash"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// lending is a book made by GnuCash with records of every data type.
var lending, _ = filepath.Abs("../source/gnucash/testdata/lending.gnucash")

// countedBook is a GnuCash book whose reads are counted: Fetch (one type)
// and FetchTypes (several). The records of the type spoil lose their id,
// which the upload refuses.
type countedBook struct {
	*gnucash.Source
	fetches, reads atomic.Int32
	types          atomic.Int32 // in the reads
	spoil          dataset.DataType
}

func (b *countedBook) Fetch(ctx context.Context, dt dataset.DataType) (source.Batch, error) {
	b.fetches.Add(1)
	return b.Source.Fetch(ctx, dt)
}

func (b *countedBook) FetchTypes(ctx context.Context, dts []dataset.DataType) (source.MultiBatch, error) {
	b.reads.Add(1)
	b.types.Add(int32(len(dts)))
	mb, err := b.Source.FetchTypes(ctx, dts)
	if err != nil {
		return nil, err
	}
	return spoiled{mb, b.spoil}, nil
}

// spoiled is a read whose records of type dt have no id.
type spoiled struct {
	source.MultiBatch
	dt dataset.DataType
}

func (s spoiled) Records(ctx context.Context, sinks []source.Sink) {
	for i, k := range sinks {
		if k.Type == s.dt {
			sinks[i].Emit = func(r source.Record) error {
				r = maps.Clone(r)
				delete(r, "id")
				return k.Emit(r)
			}
		}
	}
	s.MultiBatch.Records(ctx, sinks)
}

// syncLending links a GnuCash connection to the lending book, counted,
// runs a worker for it and waits until every type has ended.
func syncLending(t *testing.T, spoil dataset.DataType) (*coordinator, string, *countedBook) {
	t.Helper()
	c := startCoordinator(t, t.TempDir(), "127.0.0.1:0")
	company, b, lr := c.link("", "gnucash", lending)
	book := &countedBook{Source: b.Source.(*gnucash.Source), spoil: spoil}
	b.Source = book
	runWorker(t, c, b, lr.Credential)
	waitFor(t, 60*time.Second, "every type ended", func() bool {
		st := c.statuses(company)
		for _, s := range st {
			if !dataset.Status(s).Terminal() {
				return false
			}
		}
		return len(st) == len(dataset.DataTypes)
	})
	return c, company, book
}

// TestWorkerReadsABookOnceForItsTypes: the first sync of a GnuCash book
// queues every type; the agent claims them together and reads the book
// once for all of them (FetchTypes), not once per type (Fetch), and each
// dataset completes with its records.
func TestWorkerReadsABookOnceForItsTypes(t *testing.T) {
	c, company, book := syncLending(t, "")
	if st := c.statuses(company); !allComplete(st) {
		t.Fatalf("statuses %v, want every type Complete", st)
	}
	if r, n, f := book.reads.Load(), book.types.Load(), book.fetches.Load(); r != 1 || n != int32(len(dataset.DataTypes)) || f != 0 {
		t.Errorf("%d reads of %d types and %d fetches of one; want 1 read of the %d types", r, n, f, len(dataset.DataTypes))
	}
	var p struct{ TotalResults int }
	c.API("GET", "/companies/"+company+"/data/journalEntries?pageSize=1", nil, &p)
	if p.TotalResults != 19 {
		t.Errorf("%d journal entries, want the book's 19", p.TotalResults)
	}
}

// TestWorkerFailsOneTypeOfARead: a type whose records the upload refuses
// ends MapError on its own; the read's other types complete.
func TestWorkerFailsOneTypeOfARead(t *testing.T) {
	c, company, book := syncLending(t, dataset.Customers)
	for dt, s := range c.statuses(company) {
		want := "Complete"
		if dt == string(dataset.Customers) {
			want = string(dataset.MapError)
		}
		if s != want {
			t.Errorf("%s: %s, want %s", dt, s, want)
		}
	}
	if r := book.reads.Load(); r != 1 {
		t.Errorf("%d reads, want 1", r)
	}
}
