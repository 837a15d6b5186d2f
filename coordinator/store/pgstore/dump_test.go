package pgstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
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

// TestImportRows: a database filled by an import of a Badger store holds
// the rows the store's own writes make, column for column, when both
// started from the same calls (storetest.Populate): every table of the
// schema, so that a table the import does not fill, or fills otherwise,
// shows. What differs by nature is left out: the dataset counts (folded
// or pending), the records' sequence numbers, the secrets' random values,
// the pages to delete (a dump carries none), the feed's overflow, the
// schema's own table, and what a running cluster holds for the moment
// (agents' channels, leader leases, Portal sessions, failure windows,
// upload slots, refusal windows, readers' holds on snapshots),
// which a copy between stopped coordinators does not carry.
func TestImportRows(t *testing.T) {
	direct := pgtest.NewDatabase(t)
	storetest.Populate(t, open(t, direct))
	src, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	storetest.Populate(t, src)
	imported := pgtest.NewDatabase(t)
	if _, _, err := store.Copy(t.Context(), src, open(t, imported)); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	skip := map[string]string{
		"dataset_counts":          "",
		"dataset_count_deltas":    "",
		"ended_pages":             "",
		"ferry_change_overflow":   "",
		"ferry_schema_migrations": "",
		"records":                 " - 'seq'",
		"secrets":                 " - 'value'",
		"channels":                "",
		"leader_leases":           "",
		"sessions":                "",
		"failures":                "",
		"diagnostics":             "",
		"round_trips":             "", // telemetry: migrate leaves it behind
		"support_bundles":         "",
		"rollouts":                "", // short-lived: migrate leaves them behind (decisions.md)

		"upload_slots":     "",
		"refusal_windows":  "",
		"snapshot_readers": "",
	}
	want, got := connect(t, direct), connect(t, imported)
	tables := rowsOf(t, want, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
	for _, table := range tables {
		minus, ok := skip[table]
		if ok && minus == "" {
			continue
		}
		q := fmt.Sprintf("SELECT (to_jsonb(t)%s)::text FROM %s t", minus, pgx.Identifier{table}.Sanitize())
		w, g := rowsOf(t, want, q), rowsOf(t, got, q)
		if len(w) == 0 {
			t.Errorf("table %s: Populate wrote no row: it must fill every table", table)
		}
		if fmt.Sprint(w) != fmt.Sprint(g) {
			t.Errorf("table %s: imported rows\n%s\nwant, as the store's writes make them,\n%s", table,
				strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
}

// rowsOf returns the query's rows, one text column each, sorted.
func rowsOf(t *testing.T, conn *pgx.Conn, q string) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	slices.Sort(out)
	return out
}
