package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/storetest"
)

// TestCopyRoundTrip moves a store that holds every kind of item into an
// empty one and reopens the copy: it holds the same keys and values,
// indexes included, the counts read back equal those copied, and it works
// as the source did (the agent's credential and the API key authenticate,
// the cache reads, the agent's lease expires and re-queues its dataset).
func TestCopyRoundTrip(t *testing.T) {
	src := openTest(t)
	storetest.Populate(t, src)
	dir := t.TempDir()
	dst, err := badgerstore.Open(dir, slog.New(slog.DiscardHandler))
	must(t, "Open the target", err)
	source, target, err := store.Copy(t.Context(), src, dst)
	if err != nil {
		_ = dst.Close()
		t.Fatalf("Copy: %v", err)
	}
	must(t, "Close the target", dst.Close())
	for _, k := range store.Kinds {
		if source[k] == 0 || source[k] != target[k] {
			t.Errorf("%s: %d copied, %d read back; want the same, not 0", k, source[k], target[k])
		}
	}
	dst = openAt(t, dir)
	sameKeys(t, src, dst)
	storetest.CheckCopy(t, src, dst)
}

// sameKeys fails unless the two stores hold the same keys with the same
// values (CopiedKeys): the indexes an import builds are those the store's
// own writes built. The source's dataset counts are folded first, as the import
// writes them folded.
func sameKeys(t *testing.T, src, dst *badgerstore.Badger) {
	t.Helper()
	_, err := src.DatasetCounts(t.Context())
	must(t, "DatasetCounts", err)
	raw := func(b *badgerstore.Badger) map[string]string {
		keys, vals, err := b.CopiedKeys()
		must(t, "RawKeys", err)
		m := make(map[string]string, len(keys))
		for i, k := range keys {
			m[string(k)] = string(vals[i])
		}
		return m
	}
	want, got := raw(src), raw(dst)
	for k, v := range want {
		if w, ok := got[k]; !ok {
			t.Errorf("key %s is not in the copy", k)
		} else if w != v {
			t.Errorf("key %s: %q in the copy, %q in the source", k, w, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("key %s is only in the copy", k)
		}
	}
}

// TestCopyRefusesNonEmpty: a target holding anything is refused, with what
// it holds, and left as it was.
func TestCopyRefusesNonEmpty(t *testing.T) {
	src := openTest(t)
	storetest.Populate(t, src)
	dst := openTest(t)
	_, err := dst.Secret(t.Context(), "only")
	must(t, "Secret", err)
	_, _, err = store.Copy(t.Context(), src, dst)
	if !errors.Is(err, store.ErrNotEmpty) || !strings.Contains(err.Error(), "secrets: 1") {
		t.Fatalf("Copy into a store with a secret: %v; want ErrNotEmpty naming 1 secret", err)
	}
	keys, err := dst.APIKeys(t.Context())
	if err != nil || len(keys) != 0 {
		t.Errorf("API keys of the refused target: %d, %v; want none", len(keys), err)
	}
}

// TestOpenLocked: a store another Badger holds open is ErrLocked, which
// says a coordinator may be running on it.
func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openAt(t, dir)
	b, err := badgerstore.Open(dir, nil)
	if err == nil {
		_ = b.Close()
	}
	if !errors.Is(err, badgerstore.ErrLocked) || !strings.Contains(err.Error(), "running coordinator") {
		t.Fatalf("Open of a store open elsewhere: %v; want ErrLocked", err)
	}
}

// TestExportLeavesOrphans: the deliveries and log of a consumer whose
// deletion a crash cut short are not in the dump (a database refuses rows
// whose consumer is missing).
func TestExportLeavesOrphans(t *testing.T) {
	b := openTest(t)
	storetest.Populate(t, b)
	must(t, "DropWebhookRecord", b.DropWebhookRecord("wh-1"))
	got := store.Counts{}
	must(t, "Export", b.Export(t.Context(), func(it store.Item) error {
		got[it.Kind()]++
		return nil
	}))
	if got[store.KindDelivery]+got[store.KindDeliveryAttempt]+got[store.KindWebhook] != 0 || got[store.KindCompany] != 2 {
		t.Errorf("export after a cut-short webhook deletion: %s; want no webhook, delivery or attempt, and 2 companies", got)
	}
}
