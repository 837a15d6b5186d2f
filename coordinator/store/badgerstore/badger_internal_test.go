package badgerstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestBadgerLogger checks that Badger's own messages reach slog at warning
// level and above only.
func TestBadgerLogger(t *testing.T) {
	var buf bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Debugf("debug %d\n", 1)
	l.Infof("info %d\n", 2)
	l.Warningf("warning %d\n", 3)
	l.Errorf("error %d\n", 4)
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{`level=WARN msg="warning 3" component=badger`, `level=ERROR msg="error 4" component=badger`}
	if len(got) != len(want) {
		t.Fatalf("logged lines: got %q, want %d lines", got, len(want))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("line %d: got %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestTimeHexOrder(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"zero before epoch+1", timeHex(t0zero), timeHex(epoch.Add(1))},
		{"seconds", timeHex(epoch.Add(1e9)), timeHex(epoch.Add(2e9))},
		{"negative order first", intHex(-1), intHex(0)},
		{"small before large", intHex(2), intHex(10)},
	}
	for _, tt := range tests {
		if !(tt.a < tt.b) {
			t.Errorf("%s: got %s >= %s, want <", tt.name, tt.a, tt.b)
		}
	}
}

var (
	t0zero time.Time
	epoch  = time.Unix(0, 0)
)

// TestHeldFailuresBounded fills the failure windows held to their bound:
// an ended window goes first, then the one ending soonest, and the new
// key is counted either way.
func TestHeldFailuresBounded(t *testing.T) {
	b := &Badger{}
	ctx := t.Context()
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	fill := func(k string, window time.Duration) {
		t.Helper()
		if _, _, err := b.CountFailure(ctx, k, t0, window); err != nil {
			t.Fatal(err)
		}
	}
	fill("auth:ended", time.Second)
	fill("auth:soonest", 30*time.Second)
	for i := 2; i < maxHeldFailures; i++ {
		fill(fmt.Sprintf("auth:%d", i), time.Minute)
	}
	count := func(k string, at time.Time, gone string) {
		t.Helper()
		if n, _, err := b.CountFailure(ctx, k, at, time.Minute); err != nil || n != 1 {
			t.Fatalf("CountFailure(%s) = %d, %v; want 1", k, n, err)
		}
		if got := len(b.held.failures); got != maxHeldFailures {
			t.Errorf("%d windows held, want the bound %d", got, maxHeldFailures)
		}
		if _, ok := b.held.failures[gone]; ok {
			t.Errorf("%s is still held", gone)
		}
		if n, _, _ := b.Failures(ctx, k, at); n != 1 {
			t.Errorf("Failures(%s) = %d, want 1", k, n)
		}
	}
	count("auth:new", t0.Add(2*time.Second), "auth:ended")     // it had ended
	count("auth:newer", t0.Add(3*time.Second), "auth:soonest") // none had: the soonest to end
	if n, _, _ := b.Failures(ctx, "auth:2", t0.Add(4*time.Second)); n != 1 {
		t.Errorf("Failures(auth:2) = %d, want 1: only one window was to go each time", n)
	}
}
