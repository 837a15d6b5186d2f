package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
)

// TestMain checks that a served and stopped coordinator leaves no goroutine
// behind (besides the ones Badger's dependencies start at init), once the
// PostgreSQL server of the tests that use one has stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withPostgres{m}, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// withPostgres runs the tests, then stops the PostgreSQL server pgtest
// started for them (if any).
type withPostgres struct{ m *testing.M }

func (w withPostgres) Run() int { return pgtest.Main(w.m) }

// testConfig is a coordinator's configuration for a test: a loopback port,
// a store in a temporary directory and a known admin key.
func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.AdminKey = "127.0.0.1:0", t.TempDir(), "server-test-key-0123456789abcdefghij"
	return cfg
}

// serve starts a coordinator and stops it when the test ends; an error from
// Serve fails the test.
func serve(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv
}
