package hub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// frame is a masked websocket text frame of payload, as an agent sends it.
func frame(payload []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(0x81)
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(0x80 | byte(n))
	case n <= 0xffff:
		b.WriteByte(0x80 | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(0x80 | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	b.Write([]byte{0, 0, 0, 0}) // a zero mask: the payload as it is
	b.Write(payload)
	return b.Bytes()
}

// readerConn is a net.Conn that reads from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestFrameConnStopsAtFrameEnd reads frames of each header length through
// a large buffer, as the websocket does, with and without the wait's peek
// at each frame's header first (ahead): once a frame is read, nothing of
// the next is in the buffer, and the frames come through whole.
func TestFrameConnStopsAtFrameEnd(t *testing.T) {
	frames := [][]byte{
		frame([]byte(`{"type":"heartbeat"}`)),
		frame(bytes.Repeat([]byte("x"), 300)),
		frame(bytes.Repeat([]byte("y"), 70000)),
		frame(nil),
		frame([]byte("last")),
	}
	for _, peek := range []bool{false, true} {
		src := bytes.NewReader(bytes.Join(frames, nil))
		fc := &frameConn{Conn: readerConn{r: src}}
		br := bufio.NewReaderSize(fc, 4096)
		for i, want := range frames {
			if peek {
				fc.ahead(want[:min(len(want), 4)])
			}
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil {
				t.Fatalf("peek %v, frame %d: %v", peek, i, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("peek %v, frame %d: read %d bytes that differ from the frame's", peek, i, len(got))
			}
			if n := br.Buffered(); n != 0 {
				t.Errorf("peek %v, frame %d read: %d bytes of the next buffered, want 0", peek, i, n)
			}
		}
	}
}

// TestTwoMessagesInOneWrite sends two heartbeats in one write: the second
// is on the socket already when the reader that handled the first waits
// for the socket, and is answered all the same.
func TestTwoMessagesInOneWrite(t *testing.T) {
	bh := newBenchHub(t)
	ws, err := bh.dialWelcomed(bh.link(1)[0])
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var both []byte
	var ids []string
	for range 2 {
		hb := protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: time.Now()}}
		b, err := json.Marshal(hb)
		if err != nil {
			t.Fatal(err)
		}
		both = append(both, frame(b)...)
		ids = append(ids, hb.ID)
	}
	if _, err := ws.NetConn().Write(both); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := readUntilReply(ws, id); err != nil {
			t.Fatalf("heartbeat %s not answered: %v", id, err)
		}
	}
}

// TestIdleReaderWaitsOnTheSocket connects idle agents and looks at where
// their readers wait: on the socket (frameConn.wait), not in the
// websocket's read, with less stack in use than a 2 KiB stack leaves the
// goroutine (2048 bytes less the runtime's 928), so that readers started
// while agents are idle start, and stay, at 2 KiB.
func TestIdleReaderWaitsOnTheSocket(t *testing.T) {
	const n = 300
	bh := newBenchHub(t)
	links := bh.link(n)
	before := memNow()
	bh.dialAllIdle(t, links)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		online, extra := len(bh.hub.online()), runtime.NumGoroutine()-before.goroutines
		if online == n && extra <= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d agents online with %d goroutines more, want %d and at most %d", online, extra, n, n)
		}
	}
	after := memNow()
	buf := make([]byte, 64<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	waiting, reading := 0, 0
	for g := range strings.SplitSeq(dump, "\n\n") {
		switch {
		case strings.Contains(g, "hub.(*frameConn).wait"):
			waiting++
		case strings.Contains(g, "hub.(*agentConn).read"):
			reading++
		}
	}
	if waiting != n || reading != 0 {
		t.Errorf("idle readers: %d wait on the socket, %d in the websocket's read; want %d and 0", waiting, reading, n)
	}
	if raceEnabled {
		return // the race detector changes every goroutine's stack
	}
	used := float64(after.scanned-before.scanned) / n
	if used > 2048-928 {
		t.Errorf("an idle reader uses %.0f B of stack, want at most %d", used, 2048-928)
	}
	t.Logf("an idle reader uses %.0f B of stack", used)
}

// TestHugeFrameHeaderDropsItsAgent: an agent declares a frame of 2^64-1
// bytes (frameConn's count of what is left wraps with the mask's 4). The
// websocket's read limit refuses it and the hub closes that agent's
// connection; another agent's heartbeat is answered all the same.
func TestHugeFrameHeaderDropsItsAgent(t *testing.T) {
	bh := newBenchHub(t)
	links := bh.link(2)
	bad, err := bh.dialWelcomed(links[0])
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	good, err := bh.dialWelcomed(links[1])
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	header := []byte{0x81, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	if _, err := bad.NetConn().Write(append(header, "xxxx"...)); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, _, err := bad.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the hub kept the connection of the agent that sent the huge frame: %v", err)
			}
			break
		}
	}
	hb := protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: time.Now()}}
	if err := good.WriteJSON(hb); err != nil {
		t.Fatal(err)
	}
	if err := readUntilReply(good, hb.ID); err != nil {
		t.Fatalf("the other agent's heartbeat not answered: %v", err)
	}
}

// countingConn counts the reads of the connection under a frameConn.
type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// countingWriter is framedWriter with the reads of the frameConn's
// connection counted.
type countingWriter struct {
	http.ResponseWriter
	reads *atomic.Int64
}

func (w countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := framedWriter{w.ResponseWriter}.Hijack()
	if f, ok := nc.(*frameConn); ok {
		f.Conn = countingConn{Conn: f.Conn, reads: w.reads}
	}
	return nc, brw, err
}

// TestHeartbeatTakesOneRead reads heartbeats, one at a time, as an idle
// agent's reader does (wait, then the websocket's read, through the
// hub's upgrader): the wait's peek shows the frame's header, and the
// websocket reads the whole frame in one read of the socket.
func TestHeartbeatTakesOneRead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the reader waits on the socket on Linux only")
	}
	const n = 20
	var reads atomic.Int64
	served := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(countingWriter{w, &reads}, r, nil)
		if err != nil {
			served <- err
			return
		}
		defer ws.Close()
		f, ok := ws.NetConn().(*frameConn)
		if !ok {
			served <- fmt.Errorf("the websocket reads a %T, want a *frameConn", ws.NetConn())
			return
		}
		reads.Store(0)
		for range n {
			f.wait()
			_, raw, err := ws.ReadMessage()
			if err == nil {
				err = ws.WriteMessage(websocket.TextMessage, raw)
			}
			if err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for range n {
		hb := protocol.Message{Type: protocol.TypeHeartbeat, ID: uuid.NewString(), Heartbeat: &protocol.Heartbeat{SentAt: time.Now(),
			RTTMillis: 3}}
		if err := ws.WriteJSON(hb); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if got := reads.Load(); got != n {
		t.Errorf("%d heartbeats took %d reads of the socket, want %d (one each)", n, got, n)
	}
}
