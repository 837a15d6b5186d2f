package pgstore_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/coordinator/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var _ store.Backend = (*pgstore.PG)(nil)

// open opens a PG on the database at url, closed when the test ends.
func open(t *testing.T, url string) *pgstore.PG {
	t.Helper()
	p, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// migrated is a database with the schema applied, which the conformance
// tests' databases copy: the migrations run once, not once a test
// (TestMigrateConcurrently and TestMigrateRefusesNewer migrate empty
// databases).
var migrated = pgtest.NewTemplate(func(ctx context.Context, url string) error {
	p, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		return err
	}
	p.Close()
	return nil
})

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return open(t, migrated.NewDatabase(t)) })
}

// TestMigrateConcurrently: replicas opening one empty database at once all
// succeed, and each migration is applied once (a second run of a
// migration's CREATE TABLE would fail).
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			p, err := pgstore.Open(t.Context(), url, pgstore.Options{})
			if err == nil {
				p.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	conn := connect(t, url)
	var n, distinct, top int
	err := conn.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT version), max(version) FROM ferry_schema_migrations").Scan(&n, &distinct, &top)
	if err != nil {
		t.Fatal(err)
	}
	if n != distinct || n != top || n < 2 {
		t.Errorf("ferry_schema_migrations: %d rows, %d versions, up to %d; want each version 1..%d once", n, distinct, top, top)
	}
}

// TestMigrateRefusesNewer: a database migrated by a newer binary is
// refused, saying why.
func TestMigrateRefusesNewer(t *testing.T) {
	url := pgtest.NewDatabase(t)
	p, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	conn := connect(t, url)
	if _, err := conn.Exec(t.Context(), "INSERT INTO ferry_schema_migrations (version, name) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	p, err = pgstore.Open(t.Context(), url, pgstore.Options{})
	if err == nil {
		p.Close()
		t.Fatal("Open of a database at schema version 9999 succeeded")
	}
	if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v; want it to name version 9999 as newer than the binary's", err)
	}
}

// connect is a plain connection to url, closed when the test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
