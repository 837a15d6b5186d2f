package server

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"

	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/coordinator/store/storetest"
)

// TestMigrate moves a Badger store holding every kind of item into
// PostgreSQL: refused while the store is open elsewhere, then copied with
// equal counts; the database holds what the store holds and works as it
// did (agents' credentials, API keys, the cache, leases that expire). A
// second move into the same database is refused, naming what it holds.
func TestMigrate(t *testing.T) {
	pg, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatalf("PostgreSQL for the test: %v", err)
	}
	t.Cleanup(pg.Close)
	url, err := pg.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	data := t.TempDir()
	src, err := badgerstore.Open(filepath.Join(data, "badger"), log)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Populate(t, src)

	_, _, err = Migrate(t.Context(), data, url, log)
	if !errors.Is(err, badgerstore.ErrLocked) {
		t.Errorf("Migrate from a store open elsewhere: %v; want ErrLocked", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	source, target, err := Migrate(t.Context(), data, url, log)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for _, k := range store.Kinds {
		if source[k] == 0 || source[k] != target[k] {
			t.Errorf("%s: %d copied, %d read back; want the same, not 0", k, source[k], target[k])
		}
	}
	_, found, err := Migrate(t.Context(), data, url, log)
	if !errors.Is(err, store.ErrNotEmpty) || found[store.KindCompany] != 2 || !strings.Contains(err.Error(), "companies: 2") {
		t.Errorf("Migrate into the database again: %v, found %v; want ErrNotEmpty naming 2 companies", err, found)
	}

	src, err = badgerstore.Open(filepath.Join(data, "badger"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	dst, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	storetest.CheckCopy(t, src, dst)
}

// TestMigrateRefusals: what Migrate refuses before it copies anything.
func TestMigrateRefusals(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name, from, to, want string
	}{
		{"no store in the directory", t.TempDir(), "postgres://u@127.0.0.1:1/db", "no Badger store in"},
		{"a target that is no PostgreSQL URL", t.TempDir(), "/var/lib/ferry", "postgres:// URL"},
	}
	for _, tt := range tests {
		_, _, err := Migrate(t.Context(), tt.from, tt.to, log)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want an error with %q", tt.name, err, tt.want)
		}
	}
}
