package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/coordinator/store/storetest"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestSlowReaderHoldsNoConnection: with a pool of one connection, a
// reader of cached records that waits inside its callback (a slow HTTP
// client) leaves the connection to other calls, which complete while it
// waits; then it reads the rest of its records.
func TestSlowReaderHoldsNoConnection(t *testing.T) {
	p := open(t, pgtest.NewDatabase(t)+"&pool_max_conns=1")
	storetest.Populate(t, p)
	dt, n := "", 0
	for _, d := range dataset.DataTypes {
		err := p.CachedRecords(t.Context(), "co-1", string(d), func(string, []byte) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n > 1 {
			dt = string(d)
			break
		}
	}
	if dt == "" {
		t.Fatal("Populate cached no type with two records or more")
	}
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	read := 0
	go func() {
		done <- p.CachedRecords(t.Context(), "co-1", dt, func(string, []byte) error {
			if read++; read == 1 {
				close(inside)
				<-release
			}
			return nil
		})
	}()
	<-inside
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	defer let() // a failure below must not leave the reader waiting
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for range 5 {
		if _, err := p.Company(ctx, "co-1"); err != nil {
			t.Fatalf("a call while a reader waits in its callback: %v (the reader holds the pool's one connection?)", err)
		}
		if _, err := p.CachedRecord(ctx, "co-1", dt, "r1"); errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a record read while a reader waits in its callback: %v", err)
		}
	}
	let()
	if err := <-done; err != nil || read != n {
		t.Errorf("the slow read: %d of %d records, %v", read, n, err)
	}
}
