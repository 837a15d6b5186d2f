package server

import (
	"expvar"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// The profiler (net/http/pprof) and the process's expvar counters
// (/debug/vars: Badger's reads, table seeks and compaction, the runtime's
// MemStats) are served only when --debug-listen names a loopback address,
// on a listener of its own: never on the public listener, whatever its
// path, and never to another machine. They need no key: whoever can reach
// a loopback port can already read the process.

// checkDebugListen refuses a --debug-listen that is not a loopback
// host:port.
func checkDebugListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("debug-listen: %q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("debug-listen: %q is not a loopback address (127.0.0.1:6060, [::1]:6060 or localhost:6060)", addr)
	}
	return nil
}

// newDebugServer serves the profiler's endpoints under /debug/pprof/ and
// the expvar counters at /debug/vars.
func newDebugServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// DebugAddr is the profiler's listening address; "" when --debug-listen
// is not set.
func (s *Server) DebugAddr() string {
	if s.debugLn == nil {
		return ""
	}
	return s.debugLn.Addr().String()
}
