package ratelimit

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
)

func TestAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7:443", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:80", "2001:db8:1:3::/64"},
		{"[::1]:80", "::1"},
		{"[::ffff:192.0.2.7]:80", "::ffff:192.0.2.7"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"no-port", "no-port"},
	}
	for _, tt := range tests {
		if got := Address(tt.in); got != tt.want {
			t.Errorf("Address(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFailures(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	f := NewFailures(st, "auth", 3, time.Minute, log)
	// Another replica on the same store, whose failures count with f's;
	// another kind counts apart.
	other := NewFailures(st, "auth", 3, time.Minute, log)
	signin := NewFailures(st, "signin", 3, time.Minute, log)
	for i := 1; i <= 3; i++ {
		w := httptest.NewRecorder()
		if _, refused := f.Refuse(ctx, w, "10.0.0.1:1", t0); refused || w.Header().Get("Retry-After") != "" {
			t.Fatalf("refused before failure %d, want the limit of 3 first", i)
		}
		if i == 2 {
			other.Fail(ctx, "10.0.0.1:1", t0)
		} else {
			f.Fail(ctx, "10.0.0.1:1", t0)
		}
		if reached := strings.Contains(logs.String(), "failed authentications over the limit"); reached != (i == 3) {
			t.Errorf("after failure %d, logged the limit: %v", i, reached)
		}
	}
	f.Fail(ctx, "10.0.0.1:1", t0)
	if _, refused := signin.Blocked(ctx, "10.0.0.1:1", t0); refused {
		t.Error("failures of one kind refused another")
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "remote=10.0.0.1") {
		t.Errorf("logged %d lines, want the one naming the address:\n%s", n, logs.String())
	}
	tests := []struct {
		name      string
		addr      string
		at        time.Duration
		refused   bool
		wantAfter string
	}{
		{"at the limit", "10.0.0.1:2", 10 * time.Second, true, "50"},
		{"rounded up", "10.0.0.1:2", 10*time.Second + 500*time.Millisecond, true, "50"},
		{"another address", "10.0.0.2:1", 10 * time.Second, false, ""},
		{"the window passed", "10.0.0.1:2", time.Minute, false, ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		msg, refused := other.Refuse(ctx, w, tt.addr, t0.Add(tt.at))
		after := w.Header().Get("Retry-After")
		if refused != tt.refused || after != tt.wantAfter || (refused && !strings.Contains(msg, "retry after "+after+" seconds")) {
			t.Errorf("%s: Refuse = %q, %v, Retry-After %q; want %v, %q", tt.name, msg, refused, after, tt.refused, tt.wantAfter)
		}
	}
	var none *Failures = NewFailures(st, "auth", 0, time.Minute, log)
	none.Fail(ctx, "10.0.0.1:1", t0)
	if _, refused := none.Refuse(ctx, httptest.NewRecorder(), "10.0.0.1:1", t0); refused {
		t.Error("no limit refused")
	}
	if got := RetryAfter(1500 * time.Millisecond); got != "2" {
		t.Errorf("RetryAfter(1.5s) = %s, want 2", got)
	}
}

// TestLimit: every attempt counts, across replicas sharing the store;
// past the limit the address waits for its window to pass, and another
// address or kind is not held up.
func TestLimit(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a, b := NewLimit(st, "link", 3, time.Minute, nil), NewLimit(st, "link", 3, time.Minute, nil)
	other := NewLimit(st, "code", 3, time.Minute, nil)
	for i, l := range []*Limit{a, b, a} {
		if _, ok := l.Allow(ctx, "10.0.0.1:1", t0); !ok {
			t.Fatalf("attempt %d refused, want the limit of 3 first", i+1)
		}
	}
	if wait, ok := b.Allow(ctx, "10.0.0.1:2", t0.Add(10*time.Second)); ok || wait != 50*time.Second {
		t.Errorf("the fourth attempt: %v, wait %s; want refused for 50s", ok, wait)
	}
	if _, ok := a.Allow(ctx, "10.0.0.2:1", t0); !ok {
		t.Error("another address refused")
	}
	if _, ok := other.Allow(ctx, "10.0.0.1:1", t0); !ok {
		t.Error("another kind refused")
	}
	if _, ok := a.Allow(ctx, "10.0.0.1:1", t0.Add(time.Minute)); !ok {
		t.Error("refused after the window passed")
	}
}
