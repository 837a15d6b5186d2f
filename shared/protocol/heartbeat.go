package protocol

import (
	"bytes"
	"strconv"
)

// decodeHeartbeat decodes, without reflection, a heartbeat in the form
// an agent writes it (json.Encoder of a Message: its fields in order,
// no spaces, a final newline or none) with no dataset in hand: what every
// idle agent sends, a thousand times a second at 15,000 agents, and the
// largest part of its cost in the hub when json.Unmarshal decodes it.
// ok is false for any other message, or any other form of one, which
// Decode gives to json.Unmarshal: what this accepts it decodes to what
// json.Unmarshal would (FuzzDecodeHeartbeat), so a heartbeat means the
// same whichever decodes it.
func decodeHeartbeat(b []byte) (m Message, ok bool) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b, ok = cut(b, `{"type":"heartbeat","id":"`)
	if !ok {
		return m, false
	}
	id, b, ok := plainString(b)
	if !ok {
		return m, false
	}
	if b, ok = cut(b, `,"heartbeat":{"sentAt":`); !ok {
		return m, false
	}
	i := bytes.IndexByte(b[min(1, len(b)):], '"') + 1
	if len(b) == 0 || b[0] != '"' || i == 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return m, false
	}
	var hb Heartbeat
	// time.Time's own decoder, as json.Unmarshal calls it.
	if err := hb.SentAt.UnmarshalJSON(b[:i+1]); err != nil {
		return m, false
	}
	b = b[i+1:]
	if rest, ok := cut(b, `,"rttMillis":`); ok {
		if hb.RTTMillis, b, ok = plainInt(rest); !ok {
			return m, false
		}
	}
	if string(b) != "}}" {
		return m, false
	}
	return Message{Type: TypeHeartbeat, ID: id, Heartbeat: &hb}, true
}

// cut is b after prefix, ok when b starts with it.
func cut(b []byte, prefix string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return b, false
	}
	return b[len(prefix):], true
}

// plainString is the JSON string whose opening quote b follows, when it
// holds only printable ASCII and no escape, and b after its closing quote.
func plainString(b []byte) (s string, rest []byte, ok bool) {
	for i, c := range b {
		switch {
		case c == '"':
			return string(b[:i]), b[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", b, false
		}
	}
	return "", b, false
}

// plainInt is the positive JSON integer b starts with, when it fits in an
// int64 as written (no leading zero, at most 18 digits), and b after it.
func plainInt(b []byte) (n int64, rest []byte, ok bool) {
	i := 0
	for i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || i > 18 || b[0] == '0' {
		return 0, b, false
	}
	n, err := strconv.ParseInt(string(b[:i]), 10, 64)
	return n, b[i:], err == nil
}

// AppendAck appends to b, without reflection, the ack m as json.Encoder
// writes it (the hub's answer to every heartbeat): ok when m is an ack
// with nothing but its id and the id it answers, each printable ASCII
// that JSON writes as it is (no quote, backslash, nor the <, > and &
// json.Encoder escapes). Otherwise b is returned as it was, for
// json.Encoder.
func AppendAck(b []byte, m Message) (out []byte, ok bool) {
	if m != (Message{Type: TypeAck, ID: m.ID, ReplyTo: m.ReplyTo}) || !asIs(m.ID) || !asIs(m.ReplyTo) {
		return b, false
	}
	b = append(b, `{"type":"ack","id":"`...)
	b = append(b, m.ID...)
	if m.ReplyTo != "" {
		b = append(b, `","replyTo":"`...)
		b = append(b, m.ReplyTo...)
	}
	return append(b, "\"}\n"...), true
}

// asIs reports whether JSON writes s as it is.
func asIs(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
