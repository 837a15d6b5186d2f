package hub

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestIdleConnectionOneGoroutine connects idle agents and counts the
// goroutines the hub keeps for them: one each, the reader. The writer that
// sent the welcome's offers has ended, with nothing left to write.
func TestIdleConnectionOneGoroutine(t *testing.T) {
	const n = 20
	bh := newBenchHub(t)
	links := bh.link(n)
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, l := range links {
		c, err := bh.dialIdle(l)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		online, extra := len(bh.hub.online()), runtime.NumGoroutine()-base
		if online == n && extra == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle agents online cost %d goroutines, want %d (one each)", online, extra, n)
		}
		time.Sleep(time.Millisecond)
	}
}
