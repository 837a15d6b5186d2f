// Package servertest serves a real coordinator in a test's own process on a
// loopback port, for the tests of packages that drive one from outside (the
// agent's runtime and command). It holds no logic of the coordinator.
package servertest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/server"
)

// Key is the admin API key of every coordinator Start serves.
const Key = "servertest-admin-key-0123456789abcdef"

// Coordinator is a coordinator served until Stop or the end of its test.
type Coordinator struct {
	// URL is http://Addr; Addr the address it listens on; Data its data
	// directory.
	URL, Addr, Data string

	t      *testing.T
	cancel context.CancelFunc
	done   chan error
}

// Start serves a coordinator on addr (127.0.0.1:0 when "") with its store
// in data (a new temporary directory when ""). It logs to standard error
// with go test -v, else nowhere.
func Start(t *testing.T, data, addr string) *Coordinator {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.AdminKey = cmp.Or(addr, "127.0.0.1:0"), cmp.Or(data, t.TempDir()), Key
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := server.New(t.Context(), cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{URL: "http://" + srv.Addr(), Addr: srv.Addr(), Data: cfg.DataDir, t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- srv.Serve(ctx) }()
	t.Cleanup(c.Stop)
	return c
}

// Stop stops the coordinator and waits for it; a second call does nothing.
func (c *Coordinator) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	if err := <-c.done; err != nil {
		c.t.Errorf("coordinator stop: %v", err)
	}
	c.cancel = nil
}

// API calls the REST API with the admin key, body as JSON (none when nil),
// and decodes the answer into out (unless nil); a status of 300 or more
// fails the test.
func (c *Coordinator) API(method, path string, body, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+Key)
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
