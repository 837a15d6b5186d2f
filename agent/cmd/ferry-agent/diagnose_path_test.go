package main

import (
	"bytes"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent/config"
)

// diagnose checks the path to a real coordinator step by step; with
// nothing listening at the coordinator's address it stops at the TCP step,
// saying what to try next, and asks the coordinator nothing more.
func TestDiagnosePath(t *testing.T) {
	c := startCoordinator(t)
	_, _, code := c.newConnection()
	path := filepath.Join(t.TempDir(), "agent.json")
	var out, errw bytes.Buffer
	if err := run([]string{"link", "--config", path, "--coordinator", c.URL, "--code", code, "--source", "csv", "--path", sampleCSV}, &out, &errw); err != nil {
		t.Fatalf("link: %v\n%s", err, errw.String())
	}
	out.Reset()
	if err := run([]string{"diagnose", "--config", path}, &out, &errw); err != nil {
		t.Fatalf("diagnose: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Pass  dns", "Pass  tcp", "Pass  proxy", "direct, none: no --proxy in the config", "Pass  http", "Pass  websocket", "Pass  clock", "Pass  credential"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diagnose printed\n%s\nwant %q", out.String(), want)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Coordinator = closed
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run([]string{"diagnose", "--config", path}, &out, &errw)
	if !errors.Is(err, errUnhealthy) || !strings.Contains(out.String(), "Fail  tcp") || !strings.Contains(out.String(), "next: ask IT whether a firewall blocks outbound TCP to "+ln.Addr().String()) {
		t.Errorf("diagnose of a coordinator that does not listen: %v\n%s\nwant the TCP step failing with what to try next", err, out.String())
	}
	for _, after := range []string{"proxy", "http", "websocket", "clock", "credential"} {
		if strings.Contains(out.String(), "  "+after+" ") {
			t.Errorf("diagnose went on to %s after the TCP step failed:\n%s", after, out.String())
		}
	}
}
