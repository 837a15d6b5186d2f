package hub

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// BenchmarkIdleAgentMemory connects agents to an in-process hub, has each
// send a heartbeat once all are online (an agent sends one every 15 s:
// its reader is then one started while the agents are idle, not during
// their connect) and reports what each idle one costs the coordinator
// after a GC: live heap, goroutine stacks and goroutines. The clients keep
// only their net.Conn once welcomed (their websocket buffers are garbage),
// so nearly all of the figure is the hub's side; the store's writes for
// the connects (events, last seen) are in it, as in production.
func BenchmarkIdleAgentMemory(b *testing.B) {
	const n = 2000
	bh := newBenchHub(b)
	links := bh.link(n)
	before := memNow()
	conns := make([]net.Conn, n)
	b.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	err := parallel(n, 32, func(i int) error {
		c, err := bh.dialIdle(links[i])
		conns[i] = c
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	// Every agent online, and the connects' writers and offer passes
	// ended: what is left is each idle agent's reader.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		online, extra := len(bh.hub.online()), runtime.NumGoroutine()-before.goroutines
		if online == n && extra <= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d agents online with %d goroutines more, want %d and at most %d", online, extra, n, n)
		}
	}
	runtime.GC() // the runtime starts goroutines with the stack its last collection's used
	if err := parallel(n, 32, func(i int) error { return heartbeatRaw(conns[i]) }); err != nil {
		b.Fatal(err)
	}
	after := memNow()
	heap := float64(after.heap-before.heap) / n
	stack := float64(after.stack-before.stack) / n
	b.ReportMetric(heap, "heap-B/agent")
	b.ReportMetric(stack, "stack-B/agent")
	b.ReportMetric(float64(after.scanned-before.scanned)/n, "stack-used-B/agent")
	b.ReportMetric((heap+stack)/1024, "KiB/agent")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/agent")
}

type memFigures struct {
	heap, stack, scanned uint64
	goroutines           int
}

// memNow collects twice (what the first frees, finalizers included, goes
// in the second) and reads the live heap and the stacks in use.
func memNow() memFigures {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sc := []metrics.Sample{{Name: "/gc/scan/stack:bytes"}}
	metrics.Read(sc)
	return memFigures{heap: ms.HeapAlloc, stack: ms.StackInuse, scanned: sc[0].Value.Uint64(), goroutines: runtime.NumGoroutine()}
}

// dialAllIdle connects every link as an idle agent (dialIdle), each
// connection closed when the test ends.
func (bh *benchHub) dialAllIdle(t *testing.T, links []benchLink) {
	t.Helper()
	conns := make([]net.Conn, 0, len(links))
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
}

// dialIdle connects as l, says hello, waits for the welcome and keeps
// only the network connection: an idle agent that reads nothing more.
func (bh *benchHub) dialIdle(l benchLink) (net.Conn, error) {
	ws, err := bh.dialWelcomed(l)
	if err != nil {
		return nil, err
	}
	return ws.NetConn(), nil
}

// heartbeatRaw sends a heartbeat on an agent's network connection and
// reads the server's frames until its answer.
func heartbeatRaw(c net.Conn) error {
	hb := protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: time.Now()}}
	b, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	if _, err := c.Write(frame(b)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var head [4]byte
		if _, err := io.ReadFull(c, head[:2]); err != nil {
			return err
		}
		size := int(head[1] & 0x7f)
		if size == 126 {
			if _, err := io.ReadFull(c, head[2:4]); err != nil {
				return err
			}
			size = int(binary.BigEndian.Uint16(head[2:4]))
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(c, payload); err != nil {
			return err
		}
		if bytes.Contains(payload, []byte(hb.ID)) {
			return nil
		}
	}
}

// dialWelcomed connects as l, says hello and waits for the welcome.
func (bh *benchHub) dialWelcomed(l benchLink) (*websocket.Conn, error) {
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024}
	hdr := http.Header{"Authorization": {"Bearer " + l.cred}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(bh.url, "http")+protocol.ConnectPath, hdr)
	if err != nil {
		return nil, err
	}
	err = ws.WriteJSON(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{protocol.Version}, Hostname: "bench", OS: "linux", AgentVersion: "bench",
		Bindings: []protocol.Binding{{ConnectionID: l.connID, DataTypes: dataset.DataTypes}}, Capacity: 2,
		Features: []string{protocol.FeatureSupportBundle, protocol.FeatureLogLevel, protocol.FeatureUpdate}}})
	if err == nil {
		var m protocol.Message
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		err = ws.ReadJSON(&m)
	}
	if err != nil {
		ws.Close()
		return nil, err
	}
	return ws, nil
}
