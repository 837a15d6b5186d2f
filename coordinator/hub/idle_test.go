package hub

import (
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
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

// TestSlowReaderDropped has the hub write to an agent that reads nothing:
// the writer that runs only while there is something to write still
// bounds what waits (the senders wait for room) and its write deadline
// drops the agent, which ends the senders' wait.
func TestSlowReaderDropped(t *testing.T) {
	bh := newBenchHub(t)
	l := bh.link(1)[0]
	conn, err := bh.dialIdle(l)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := waitLive(t, bh.hub, l.agentID)
	// Far more than the socket's buffers hold: the writer stalls.
	big := errorReply("-", protocol.CodeBadMessage, strings.Repeat("x", 64<<10))
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for range 8 * sendQueue {
			c.enqueue(big)
		}
	}()
	select {
	case <-sent:
	case <-time.After(2 * time.Minute):
		t.Fatal("the senders still wait for an agent that reads nothing")
	}
	for deadline := time.Now().Add(time.Minute); slices.Contains(bh.hub.online(), c); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the agent that reads nothing is still online")
		}
	}
	if c.reason != store.ReasonConnectionLost {
		t.Errorf("reason %q, want %q", c.reason, store.ReasonConnectionLost)
	}
}

// waitLive waits for the agent's live connection.
func waitLive(t *testing.T, h *Hub, agentID string) *agentConn {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		h.mu.Lock()
		c := h.agents[agentID]
		h.mu.Unlock()
		if c != nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s not online", agentID)
		}
	}
}

// TestIdleStackAfterHeartbeat has idle agents send a heartbeat each and
// weighs the goroutine stacks the hub keeps for them afterwards. Handling
// a heartbeat renews leases in the store, which takes a deep stack; a
// goroutine's stack never shrinks below half of what it grew to (the GC
// halves it only while a quarter is unused), so a read loop that handled
// it itself would keep 8 KiB or more for its connection's life. The
// handling runs on a goroutine of its own: the idle read loop keeps the
// stack it had before the heartbeat.
func TestIdleStackAfterHeartbeat(t *testing.T) {
	const n = 200
	bh := newBenchHub(t)
	links := bh.link(n)
	before := memNow()
	conns := make([]*websocket.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, l := range links {
		c, err := bh.dialWelcomed(l)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		hb := protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: time.Now()}}
		if err := c.WriteJSON(hb); err != nil {
			t.Fatal(err)
		}
		if err := readUntilReply(c, hb.ID); err != nil {
			t.Fatal(err)
		}
	}
	after := memNow()
	perAgent := float64(after.stack-before.stack) / n
	// The read loop's stack is 4 KiB (BenchmarkIdleAgentMemory); one
	// that kept what the heartbeat grew would be 8 KiB or more.
	if perAgent > 6<<10 {
		t.Errorf("%.0f B of stack an idle agent after a heartbeat, want at most %d", perAgent, 6<<10)
	}
	t.Logf("%.0f B of stack an idle agent after a heartbeat", perAgent)
}

// readUntilReply reads messages until the one replying to id.
func readUntilReply(c *websocket.Conn, id string) error {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m protocol.Message
		if err := c.ReadJSON(&m); err != nil {
			return err
		}
		if m.ReplyTo == id {
			return nil
		}
	}
}
