package pgstore_test

import (
	"errors"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/coordinator/store/storetest"
)

// TestCopyRoundTrip moves a database that holds every kind of item into
// an empty one: it exports the same items, the counts read back equal
// those copied, and it works as the source did (credentials, the cache,
// leases that expire, link codes, pages still to publish).
func TestCopyRoundTrip(t *testing.T) {
	src := open(t, pgtest.NewDatabase(t))
	storetest.Populate(t, src)
	url := pgtest.NewDatabase(t)
	dst := open(t, url)
	source, target, err := store.Copy(t.Context(), src, dst)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	for _, k := range store.Kinds {
		if source[k] == 0 || source[k] != target[k] {
			t.Errorf("%s: %d copied, %d read back; want the same, not 0", k, source[k], target[k])
		}
	}
	storetest.CheckCopy(t, src, open(t, url))
}

// TestImportAtomic: an import cut short by an error leaves the database
// empty: it is one transaction.
func TestImportAtomic(t *testing.T) {
	src := open(t, pgtest.NewDatabase(t))
	storetest.Populate(t, src)
	dst := open(t, pgtest.NewDatabase(t))
	stop := errors.New("stop")
	n := 0
	err := dst.Import(t.Context(), func(yield func(store.Item) error) error {
		return src.Export(t.Context(), func(it store.Item) error {
			if n++; n == 40 {
				return stop
			}
			return yield(it)
		})
	})
	if n < 40 {
		t.Fatalf("the dump had %d items; the test needs 40", n)
	}
	if !errors.Is(err, stop) {
		t.Fatalf("Import cut short: %v; want the error that cut it", err)
	}
	err = dst.Export(t.Context(), func(it store.Item) error {
		return errors.New("the database holds " + string(it.Kind()) + " after a failed import")
	})
	if err != nil {
		t.Error(err)
	}
}
