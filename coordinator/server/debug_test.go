package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestProfilerOnlyOnDebugListen: with --debug-listen the profiler answers
// there and not on the public listener; without it nothing serves it;
// an address off the loopback is refused at start.
func TestProfilerOnlyOnDebugListen(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	cfg := testConfig(t)
	cfg.DebugListen = "127.0.0.1:0"
	srv := serve(t, cfg)
	if code, body := get("http://" + srv.DebugAddr() + "/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("the profiler on --debug-listen: %d %.80q, want 200 and a goroutine profile", code, body)
	}
	if code, body := get("http://" + srv.Addr() + "/debug/pprof/goroutine?debug=1"); code == 200 || strings.Contains(body, "goroutine profile") {
		t.Errorf("the profiler on the public listener: %d %.80q, want none", code, body)
	}
	// Badger's counters: the load tool reads its table seeks and
	// compaction around a phase.
	if code, body := get("http://" + srv.DebugAddr() + "/debug/vars"); code != 200 || !strings.Contains(body, `"badger_get_num_lsm"`) {
		t.Errorf("expvar on --debug-listen: %d %.80q, want 200 and Badger's counters", code, body)
	}
	if code, body := get("http://" + srv.Addr() + "/debug/vars"); code == 200 || strings.Contains(body, "badger_get") {
		t.Errorf("expvar on the public listener: %d %.80q, want none", code, body)
	}

	plain := serve(t, testConfig(t))
	if plain.DebugAddr() != "" {
		t.Errorf("without --debug-listen the profiler listens on %s", plain.DebugAddr())
	}
	if code, _ := get("http://" + plain.Addr() + "/debug/pprof/"); code == 200 {
		t.Errorf("the profiler on the public listener without --debug-listen: %d", code)
	}

	for _, addr := range []string{"0.0.0.0:6060", ":6060", "10.0.0.1:6060", "example.com:6060", "6060"} {
		bad := testConfig(t)
		bad.DebugListen = addr
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "debug-listen") {
			t.Errorf("--debug-listen %s: %v, want refused", addr, err)
		}
	}
}
