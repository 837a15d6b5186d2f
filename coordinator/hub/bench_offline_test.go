package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// BenchmarkOfflinePass is the leader's offline pass over 15,000 agents
// online and idle: "read-all" is a pass that reads every agent and
// channel (the first, or after a gap: every pass before the watch), the
// limit "idle" is compared with; "idle" a pass with nothing changed.
//
//	go test -run '^$' -bench OfflinePass -benchtime 20x ./coordinator/hub/
func BenchmarkOfflinePass(b *testing.B) {
	bh := newBenchHub(b)
	ctx := context.Background()
	const n = 15000
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				id := fmt.Sprintf("agent-%05d", i)
				err := bh.st.CreateAgent(ctx, store.Agent{ID: id, CredentialHash: []byte("cred-" + id), Created: time.Now()})
				if err == nil {
					_, err = bh.st.ClaimChannel(ctx, id, "replica-b")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	h := bh.hub
	h.CheckOffline(ctx)
	b.Run("read-all", func(b *testing.B) {
		for b.Loop() {
			h.offline.mu.Lock()
			h.offline.sub = nil
			h.offline.mu.Unlock()
			h.CheckOffline(ctx)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/pass")
	})
	b.Run("idle", func(b *testing.B) {
		for b.Loop() {
			h.CheckOffline(ctx)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/pass")
	})
}
