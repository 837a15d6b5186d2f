package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/server"
)

const adminKey = "agent-cmd-test-key-0123456789abcdef"

var sampleCSV, _ = filepath.Abs("../../../testdata/sample-csv")

// coordinator is a real coordinator in this process on a loopback port.
type coordinator struct {
	t      *testing.T
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startCoordinator(t *testing.T) *coordinator {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.AdminKey = "127.0.0.1:0", t.TempDir(), adminKey
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &coordinator{t: t, url: "http://" + srv.Addr(), cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- srv.Serve(ctx) }()
	t.Cleanup(c.stop)
	return c
}

func (c *coordinator) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	if err := <-c.done; err != nil {
		c.t.Errorf("coordinator stop: %v", err)
	}
	c.cancel = nil
}

func (c *coordinator) api(method, path string, body, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatal(err)
		}
	}
}

// newConnection creates a company and a csv connection, returning the
// company, the connection and its link code.
func (c *coordinator) newConnection() (company, conn, code string) {
	c.t.Helper()
	var co, cn struct {
		ID             string
		ConnectionInfo map[string]string
	}
	c.api("POST", "/companies", map[string]string{"name": "Acme"}, &co)
	c.api("POST", "/companies/"+co.ID+"/connections", map[string]string{"platformKey": "csv"}, &cn)
	return co.ID, cn.ID, cn.ConnectionInfo["linkCode"]
}

func (c *coordinator) connectionStatus(company, conn string) string {
	c.t.Helper()
	var cn struct{ Status string }
	c.api("GET", "/companies/"+company+"/connections/"+conn, nil, &cn)
	return cn.Status
}

// recorder stands in front of a coordinator and records the Authorization
// header of every request it passes on.
type recorder struct {
	url  string
	mu   sync.Mutex
	auth []string
}

func recordAuth(t *testing.T, c *coordinator) *recorder {
	t.Helper()
	target, _ := url.Parse(c.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	r := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// saw reports whether any request carried secret in its Authorization.
func (r *recorder) saw(secret string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.auth {
		if strings.Contains(a, secret) {
			return true
		}
	}
	return false
}
