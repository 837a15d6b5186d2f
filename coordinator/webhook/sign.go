// Package webhook delivers the coordinator's events to the client's webhook
// consumers: from the store's durable outbox, signed with each consumer's
// secret, at least once, with retries and backoff; and it refuses to call
// into private networks unless told to.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	// SignatureHeader is "t=<unix seconds>,v1=<hex HMAC-SHA256>": the MAC,
	// keyed with the consumer's secret, of "<t>.<raw body>".
	SignatureHeader = "Ferry-Signature"
	EventIDHeader   = "Ferry-Event-Id"
	EventTypeHeader = "Ferry-Event-Type"
)

// Sign returns the signature header value of body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	// ErrBadSignature: the header is malformed or no v1 MAC matches.
	ErrBadSignature = errors.New("webhook signature does not match")
	// ErrStale: the signature's timestamp is further than the tolerance
	// from now (a replay, or a clock far off).
	ErrStale = errors.New("webhook signature timestamp is outside the tolerance")
)

// Verify checks a delivery's signature header against its raw body, as a
// receiver should: the MAC in constant time, the timestamp within
// tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return ErrBadSignature
		case k == "t":
			ts = v
		case k == "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
