package diagnose

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSource(t *testing.T) {
	dir := t.TempDir()
	book := filepath.Join(dir, "books.gnucash")
	if err := os.WriteFile(book, []byte("<?xml version=\"1.0\"?>"), 0o600); err != nil {
		t.Fatal(err)
	}
	csvDir := filepath.Join(dir, "csv")
	emptyDir := filepath.Join(dir, "empty")
	for _, d := range []string{csvDir, emptyDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(csvDir, "invoices.csv"), []byte("id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, path string
		want            protocol.CheckStatus
		wantIn          string
	}{
		{"book", "gnucash", book, protocol.CheckPass, "readable"},
		{"csv folder", "csv", csvDir, protocol.CheckPass, "1 CSV files"},
		{"empty folder", "csv", emptyDir, protocol.CheckWarn, "0 CSV files"},
		{"missing", "gnucash", filepath.Join(dir, "gone.gnucash"), protocol.CheckFail, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Source(config.Binding{ConnectionID: "conn-1", PlatformKey: tt.key, Path: tt.path})
			if got.Status != tt.want || got.ConnectionID != "conn-1" || got.Name != protocol.CheckSource || !strings.Contains(got.Message, tt.wantIn) {
				t.Errorf("got %+v, want status %s, a message with %q", got, tt.want, tt.wantIn)
			}
		})
	}
}

func TestRunListsEveryCheck(t *testing.T) {
	dir := t.TempDir()
	got := Run(t.Context(), Config{Dir: dir, Version: "1.2.3", Bindings: []config.Binding{
		{ConnectionID: "a", Path: dir}, {ConnectionID: "b", Path: filepath.Join(dir, "nope")},
	}})
	var names []string
	for _, c := range got {
		names = append(names, c.Name+":"+c.ConnectionID)
	}
	if want := "source:a source:b disk: version:"; strings.Join(names, " ") != want {
		t.Fatalf("checks %v, want %s", names, want)
	}
	if d := got[2]; d.Value <= 0 {
		t.Errorf("disk check %+v: want the free bytes measured", d)
	}
	if v := got[3]; !strings.Contains(v.Message, "1.2.3") {
		t.Errorf("version check %+v does not name the version", v)
	}
}

func TestClock(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration
		want   protocol.CheckStatus
	}{
		{"in step", 0, protocol.CheckPass},
		{"ten minutes behind", -10 * time.Minute, protocol.CheckWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The coordinator's clock is tt.offset off this machine's.
				w.Header().Set("Date", time.Now().Add(tt.offset).UTC().Format(http.TimeFormat))
			}))
			defer srv.Close()
			got := Clock(t.Context(), srv.Client(), srv.URL)
			if got.Status != tt.want {
				t.Errorf("got %+v, want %s", got, tt.want)
			}
			if skew := time.Duration(got.Value) * time.Millisecond; (skew + tt.offset).Abs() > 2*time.Second {
				t.Errorf("skew %s, want about %s", skew, -tt.offset)
			}
		})
	}
	got := Clock(t.Context(), http.DefaultClient, "http://127.0.0.1:1")
	if got.Status != protocol.CheckFail {
		t.Errorf("unreachable coordinator: %+v, want Fail", got)
	}
}
