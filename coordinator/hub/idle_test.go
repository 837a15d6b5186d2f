package hub

import (
	"encoding/json"
	"io"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestIdleConnectionOneGoroutine connects idle agents and counts the
// goroutines the hub keeps for them: one each, the reader. The writer that
// sent the welcome's offers has ended, with nothing left to write. The
// goroutines are told apart by their stacks: a goroutine of the setup
// (an HTTP connection of the links) may end meanwhile, which made a
// count of all of them one short now and then.
func TestIdleConnectionOneGoroutine(t *testing.T) {
	const n = 20
	bh := newBenchHub(t)
	links := bh.link(n)
	base := runtime.NumGoroutine()
	bh.dialAllIdle(t, links)
	deadline := time.Now().Add(10 * time.Second)
	for {
		online, extra := len(bh.hub.online()), runtime.NumGoroutine()-base
		conns, writers := connGoroutines()
		if online == n && conns == n && writers == 0 && extra <= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle agents online: %d goroutines of their connections (%d writers), %d more goroutines in all; want %d, no writer, at most %d",
				online, conns, writers, extra, n, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// connGoroutines counts the goroutines running an agent connection's
// code, and those of them writing.
func connGoroutines() (conns, writers int) {
	buf := make([]byte, 1<<20)
	for {
		m := runtime.Stack(buf, true)
		if m < len(buf) {
			buf = buf[:m]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "hub.(*agentConn)") {
			conns++
			if strings.Contains(g, "hub.(*agentConn).writeLoop") {
				writers++
			}
		}
	}
	return conns, writers
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

// TestIdleStackAfterHeartbeat connects agents while the runtime starts
// goroutines with large stacks, as during a reconnect burst (the runtime
// starts them with the stack the goroutines of its last collection used
// on average, GODEBUG adaptivestackstart), has each send a heartbeat once
// the burst is over, and weighs the stacks the hub keeps for the idle
// agents. Handling a heartbeat renews leases in the store, a deep stack
// too; and a goroutine's stack never shrinks below half what it grew to
// (the GC halves it only while three quarters are unused). The goroutine
// that reads and handles a message hands the connection to a new one and
// ends (read): the idle agent's reader has the stack an idle one needs.
func TestIdleStackAfterHeartbeat(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes every goroutine's stack")
	}
	const n = 500
	bh := newBenchHub(t)
	links := bh.link(n)
	before := memNow()
	release := deepStacks(500, 12<<10)
	conns := make([]*websocket.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, l := range links {
		c, err := bh.dialWelcomed(l)
		if err != nil {
			release()
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	release() // the burst is over: new goroutines start small again
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
	// An idle reader's stack is 4 KiB (BenchmarkIdleAgentMemory), some
	// 8 KiB when started while the heartbeats were handled; one that kept
	// what the burst or the heartbeat grew is 8 KiB or more, all of them
	// (10 KiB an agent here before read handed over).
	if perAgent >= 8<<10 {
		t.Errorf("%.0f B of stack an idle agent after a heartbeat, want under %d", perAgent, 8<<10)
	}
	t.Logf("%.0f B of stack an idle agent after a heartbeat, %d goroutines", perAgent, after.goroutines-before.goroutines)
}

// deepStacks starts n goroutines that each use about size bytes of stack
// and collects while they wait, so that the runtime starts goroutines with
// stacks of that size until its next collection without them; release
// ends them and returns once the runtime starts goroutines small again.
func deepStacks(n, size int) (release func()) {
	stop := make(chan struct{})
	var ready, ended sync.WaitGroup
	ready.Add(n)
	ended.Add(n)
	for range n {
		go func() {
			defer ended.Done()
			deep(size/256, ready.Done, stop)
		}()
	}
	ready.Wait()
	runtime.GC()
	return func() {
		close(stop)
		ended.Wait()
		// The runtime keeps the stacks of ended goroutines for new ones
		// while they are of the starting size: collect, so that it is
		// small again, and start and end goroutines enough to take and
		// free the large ones kept.
		runtime.GC()
		var churn sync.WaitGroup
		hold := make(chan struct{})
		churn.Add(4 * n)
		for range 4 * n {
			go func() { defer churn.Done(); <-hold }()
		}
		close(hold)
		churn.Wait()
	}
}

// deep recurses depth frames of about 256 bytes each, then says so and
// waits for stop.
//
//go:noinline
func deep(depth int, reached func(), stop chan struct{}) byte {
	var pad [200]byte
	pad[depth%len(pad)] = byte(depth)
	if depth == 0 {
		reached()
		<-stop
		return pad[0]
	}
	return deep(depth-1, reached, stop) + pad[depth%len(pad)]
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

// TestHeartbeatStartsOneGoroutine sends heartbeats one at a time: each
// starts one goroutine, the reader that reads the next; its answer is
// written by the reader that handled it, not by a writer started for it.
func TestHeartbeatStartsOneGoroutine(t *testing.T) {
	const n = 50
	bh := newBenchHub(t)
	l := bh.link(1)[0]
	ws, err := bh.dialWelcomed(l)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := waitLive(t, bh.hub, l.agentID)
	// The writer that offered the queued work at connect has ended.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		writing := c.writing
		c.mu.Unlock()
		if !writing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection's writer still runs")
		}
	}
	before := goroutinesCreated()
	for range n {
		if err := heartbeatRaw(ws.NetConn()); err != nil {
			t.Fatal(err)
		}
	}
	if got := goroutinesCreated() - before; got > n+n/10 {
		t.Errorf("%d heartbeats started %d goroutines, want about %d (one each)", n, got, n)
	}
}

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeartbeatAllocates sends the same heartbeat again and again, the
// answers read into one buffer, so that what the process allocates is
// the hub's: a heartbeat allocates its decoded message and its answer,
// not a buffer to read it into, nor a context and its timer for the
// store work an idle agent's heartbeat does not do, nor json.Unmarshal's
// and json.Encoder's garbage (the heartbeat decoded and its ack written
// without reflection: 1,023-1,029 B a heartbeat with them, 417-433 B
// without). Each heartbeat's garbage is a share of the GC's work while
// the agents idle.
func TestHeartbeatAllocates(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	const n, most = 500, 600
	bh := newBenchHub(t)
	l := bh.link(1)[0]
	ws, err := bh.dialWelcomed(l)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	nc := ws.NetConn()
	raw, err := json.Marshal(protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	hb := frame(raw)
	var answer [4096]byte
	beat := func() {
		if _, err := nc.Write(hb); err != nil {
			t.Fatal(err)
		}
		// The answer, an ack under 126 bytes, in one frame.
		if _, err := io.ReadFull(nc, answer[:2]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(nc, answer[2:2+answer[1]&0x7f]); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 { // the pools and the connection's writer warm
		beat()
	}
	before := heapAllocated()
	for range n {
		beat()
	}
	if per := (heapAllocated() - before) / n; per > most {
		t.Errorf("a heartbeat allocates %d B, want at most %d", per, most)
	} else {
		t.Logf("a heartbeat allocates %d B", per)
	}
}

// heapAllocated is how many bytes the process has allocated on the heap.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
