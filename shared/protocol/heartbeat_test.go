package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// heartbeats are heartbeats as agents write them (json.Encoder: a final
// newline), and forms of them the fast path leaves to json.Unmarshal.
var heartbeats = []struct {
	raw  string
	fast bool
}{
	{`{"type":"heartbeat","id":"5b0c7a8e-1f0e-4c55-9d43-0a1c2b3d4e5f","heartbeat":{"sentAt":"2026-12-06T16:40:01.123456789Z"}}` + "\n", true},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z","rttMillis":12}}`, true},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01+02:00","rttMillis":999999999999999999}}`, true},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-01-01T00:00:00Z","inHand":[{"datasetId":"d","progress":3}]}}`, false},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z","rttMillis":0}}`, false},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z","rttMillis":-1}}`, false},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z","rttMillis":1.5}}`, false},
	{`{"type":"heartbeat","id":"\u0031","heartbeat":{"sentAt":"2026-12-06T16:40:01Z"}}`, false},
	{`{"type":"heartbeat","id":"<&>","heartbeat":{"sentAt":"2026-12-06T16:40:01Z"}}`, true},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z"}} `, false},
	{`{"type":"heartbeat", "id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z"}}`, false},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"not a time"}}`, false},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z"}}}`, false},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-12-06T16:40:01Z"},"claim":{"datasetId":"d"}}`, false},
	{`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"`, false},
}

// TestDecodeHeartbeat: the heartbeat an idle agent sends is decoded
// without json.Unmarshal, to what json.Unmarshal gives; any other form
// is left to it.
func TestDecodeHeartbeat(t *testing.T) {
	for _, c := range heartbeats {
		m, fast := decodeHeartbeat([]byte(c.raw))
		if fast != c.fast {
			t.Errorf("%s: decoded without json.Unmarshal %v, want %v", c.raw, fast, c.fast)
		}
		if fast {
			sameAsJSON(t, []byte(c.raw), m)
		}
	}
}

// TestDecodeHeartbeatAllocates: Decode of an idle agent's heartbeat
// allocates its Heartbeat, its id and what Validate does, against what json.Unmarshal
// allocates for it, measured in the same run.
func TestDecodeHeartbeatAllocates(t *testing.T) {
	raw := []byte(heartbeats[0].raw)
	fast := testing.AllocsPerRun(100, func() {
		if _, err := Decode(raw); err != nil {
			t.Fatal(err)
		}
	})
	slow := testing.AllocsPerRun(100, func() {
		var m Message
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
	})
	if fast > 3 {
		t.Errorf("Decode of a heartbeat: %.0f allocations, want at most 3 (json.Unmarshal: %.0f)", fast, slow)
	}
	t.Logf("Decode of a heartbeat: %.0f allocations; json.Unmarshal: %.0f", fast, slow)
}

// BenchmarkDecodeHeartbeat: Decode of an idle agent's heartbeat beside
// json.Unmarshal of it, its limit before.
func BenchmarkDecodeHeartbeat(b *testing.B) {
	raw := []byte(heartbeats[0].raw)
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m Message
			if err := json.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeHeartbeat: whatever the fast path decodes, json.Unmarshal
// decodes to the same message.
func FuzzDecodeHeartbeat(f *testing.F) {
	for _, c := range heartbeats {
		f.Add([]byte(c.raw))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, ok := decodeHeartbeat(b); ok {
			sameAsJSON(t, b, m)
		}
	})
}

// sameAsJSON fails t unless json.Unmarshal decodes raw to m.
func sameAsJSON(t *testing.T, raw []byte, m Message) {
	t.Helper()
	var want Message
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%q: decoded without json.Unmarshal, which refuses it: %v", raw, err)
	}
	if !reflect.DeepEqual(m, want) || !m.Heartbeat.SentAt.Equal(want.Heartbeat.SentAt) {
		t.Fatalf("%q: decoded to %+v %+v, json.Unmarshal to %+v %+v", raw, m, *m.Heartbeat, want, *want.Heartbeat)
	}
	if !bytes.HasPrefix(raw, []byte(`{"type":"heartbeat"`)) {
		t.Fatalf("%q: not a heartbeat", raw)
	}
}

// TestAppendAck: an ack is written without reflection as json.Encoder
// writes it; any other message, or an id it escapes, is left to it.
func TestAppendAck(t *testing.T) {
	for _, c := range []struct {
		m    Message
		fast bool
	}{
		{Message{Type: TypeAck, ID: "5b0c7a8e-1f0e-4c55-9d43-0a1c2b3d4e5f", ReplyTo: "9c1d"}, true},
		{Message{Type: TypeAck, ID: "1"}, true},
		{Message{Type: TypeAck, ID: "1", ReplyTo: "<&>"}, false},
		{Message{Type: TypeAck, ID: "1", ReplyTo: `a"b`}, false},
		{Message{Type: TypeAck, ID: "é"}, false},
		{Message{Type: TypeAck, ID: "1", Error: &Error{Code: CodeBadMessage}}, false},
		{Message{Type: TypeHeartbeat, ID: "1"}, false},
	} {
		got, fast := AppendAck([]byte("x"), c.m)
		if fast != c.fast {
			t.Errorf("%+v: written without json.Encoder %v, want %v", c.m, fast, c.fast)
		}
		var want bytes.Buffer
		want.WriteString("x")
		if fast {
			if err := json.NewEncoder(&want).Encode(c.m); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != want.String() {
			t.Errorf("%+v: wrote %q, want %q", c.m, got, want.String())
		}
	}
}

// FuzzAppendAck: what AppendAck writes is what json.Encoder writes.
func FuzzAppendAck(f *testing.F) {
	f.Add("5b0c7a8e-1f0e-4c55-9d43-0a1c2b3d4e5f", "9c1d")
	f.Add("1", "")
	f.Fuzz(func(t *testing.T, id, replyTo string) {
		m := Message{Type: TypeAck, ID: id, ReplyTo: replyTo}
		got, ok := AppendAck(nil, m)
		if !ok {
			return
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(m); err != nil {
			t.Fatal(err)
		}
		if string(got) != want.String() {
			t.Fatalf("wrote %q, json.Encoder %q", got, want.String())
		}
	})
}
