package pgstore

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
)

// TestUnavailableWhileServerDown: with the server stopped as in a crash,
// reads and writes fail with store.ErrUnavailable (the API's 503), a
// missing row is still ErrNotFound once it is back, and the same PG serves
// again without being reopened.
func TestUnavailableWhileServerDown(t *testing.T) {
	srv, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	url, err := srv.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.CreateCompany(t.Context(), store.Company{ID: "co", Name: "Co", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	srv.Stop(true)
	if _, err := p.Company(t.Context(), "co"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Company with the server down = %v, want ErrUnavailable", err)
	}
	if err := p.CreateCompany(t.Context(), store.Company{ID: "co2", Name: "Co 2", Created: time.Now()}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateCompany with the server down = %v, want ErrUnavailable", err)
	}
	if _, _, err := p.CountFailure(t.Context(), "auth/127.0.0.1", time.Now(), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CountFailure with the server down = %v, want ErrUnavailable", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Company(t.Context(), "co"); err != nil {
		t.Errorf("Company after the restart: %v", err)
	}
	if _, err := p.Company(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a missing company after the restart = %v, want ErrNotFound only", err)
	}
}
