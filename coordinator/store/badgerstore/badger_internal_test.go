package badgerstore

import (
	"bytes"
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
