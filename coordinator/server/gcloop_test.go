package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// countsRead is a store that reports each DatasetCounts, the call that
// folds the counts' pending changes.
type countsRead struct {
	store.Backend
	read chan struct{}
}

func (c countsRead) DatasetCounts(ctx context.Context) (map[dataset.Status]int, error) {
	select {
	case c.read <- struct{}{}:
	default:
	}
	return c.Backend.DatasetCounts(ctx)
}

// TestCountsFoldedAtStart: a coordinator folds the dataset counts'
// pending changes when it starts, not only GCInterval (10 minutes) later:
// one restarted more often than that never folded them, and each
// transition adds one.
func TestCountsFoldedAtStart(t *testing.T) {
	cfg := testConfig(t)
	if cfg.GCInterval < time.Minute {
		t.Fatalf("GCInterval %s: the test needs the default's minutes", cfg.GCInterval)
	}
	b, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	st := countsRead{Backend: b, read: make(chan struct{}, 1)}
	srv, err := NewWithStore(t.Context(), cfg, st, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	select {
	case <-st.read:
	case <-time.After(30 * time.Second):
		t.Fatal("the counts were not folded within 30 s of the start")
	}
}
