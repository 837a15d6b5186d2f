package hub

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkHandshakeStorm: 1,000 agents dial at once against a real Badger
// store (writes synced), with room for 8 to 1,000 handshakes at once and
// no refusal (the wait for a slot is longer than the storm): the
// handshakes per second and each agent's time from its dial to its
// welcome, which the agent waits 15 s for. It is what
// DefaultHandshakes is chosen from (docs/decisions.md).
//
//	go test -run '^$' -bench HandshakeStorm -benchtime 1x ./coordinator/hub/
func BenchmarkHandshakeStorm(b *testing.B) {
	const n = 1000
	for _, slots := range []int{8, 16, 32, 64, 128, n} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) {
			for range b.N {
				benchStorm(b, n, slots)
			}
		})
	}
}

func benchStorm(b *testing.B, n, slots int) {
	b.StopTimer()
	bh := newBenchHubWith(b, func(c *Config) { c.Handshakes, c.HandshakeWait = slots, time.Hour })
	links := bh.link(n)
	var (
		mu    sync.Mutex
		took  []time.Duration
		conns []*websocket.Conn
		wg    sync.WaitGroup
	)
	b.StartTimer()
	start := time.Now()
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			c, _, bad := stormAgent(bh.url, l, nil)
			mu.Lock()
			defer mu.Unlock()
			if bad != "" {
				b.Error(bad)
				return
			}
			took = append(took, time.Since(t0))
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, c := range conns {
		c.Close()
	}
	slices.Sort(took)
	if len(took) == 0 {
		return
	}
	b.ReportMetric(float64(len(took))/elapsed.Seconds(), "handshakes/s")
	b.ReportMetric(took[len(took)/2].Seconds()*1000, "p50-ms")
	b.ReportMetric(took[len(took)*99/100].Seconds()*1000, "p99-ms")
	b.ReportMetric(took[len(took)-1].Seconds()*1000, "max-ms")
}
