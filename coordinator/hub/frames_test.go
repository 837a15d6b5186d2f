package hub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

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
// a large buffer, as the websocket does: once a frame is read, nothing of
// the next is in the buffer, and the frames come through whole.
func TestFrameConnStopsAtFrameEnd(t *testing.T) {
	frames := [][]byte{
		frame([]byte(`{"type":"heartbeat"}`)),
		frame(bytes.Repeat([]byte("x"), 300)),
		frame(bytes.Repeat([]byte("y"), 70000)),
		frame(nil),
		frame([]byte("last")),
	}
	src := bytes.NewReader(bytes.Join(frames, nil))
	br := bufio.NewReaderSize(&frameConn{Conn: readerConn{r: src}}, 4096)
	for i, want := range frames {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: read %d bytes that differ from the frame's", i, len(got))
		}
		if n := br.Buffered(); n != 0 {
			t.Errorf("frame %d read: %d bytes of the next buffered, want 0", i, n)
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
