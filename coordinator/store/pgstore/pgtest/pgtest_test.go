package pgtest

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestServer: a database made on the shared server takes a table, and the
// server comes back after a crash with what was committed.
func TestServer(t *testing.T) {
	url := NewDatabase(t)
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(t.Context(), "CREATE TABLE x (n int); INSERT INTO x VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	c.Close(t.Context())
	srv := Shared(t)
	srv.Stop(true)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	c, err = pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	var n int
	if err := c.QueryRow(t.Context(), "SELECT n FROM x").Scan(&n); err != nil || n != 7 {
		t.Fatalf("after a restart: %d, %v; want 7", n, err)
	}
}
