// Package sim drives a Ferry system from outside, as the load and chaos
// tools need it: a ferry-coordinator process, companies and connections
// made and linked through the real API, and simulated agents (the real
// agent worker over a synthetic source) spread over processes and source
// addresses.
package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Coordinator is a ferry-coordinator process the tool started. With only
// Addr and Key set, it calls the API of one it did not start (or of the
// HAProxy in front of replicas).
type Coordinator struct {
	Bin     string // the binary
	Addr    string // host:port it listens on
	DataDir string
	Key     string // the admin API key
	Args    []string
	Log     io.Writer

	cmd        *exec.Cmd
	done       chan struct{}
	clientOnce sync.Once
	client     *http.Client
}

// URL is the coordinator's base URL.
func (c *Coordinator) URL() string { return "http://" + c.Addr }

// Start runs the process and waits until /readyz answers 200.
func (c *Coordinator) Start(ctx context.Context) error {
	// A coordinator left over on the address would answer /readyz for
	// this one.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("coordinator address: %w", err)
	}
	ln.Close()
	args := append([]string{"--listen", c.Addr, "--data", c.DataDir, "--log-level", "warn"}, c.Args...)
	cmd := exec.Command(c.Bin, args...)
	cmd.Env = append(os.Environ(), "FERRY_ADMIN_KEY="+c.Key)
	cmd.Stdout, cmd.Stderr = c.Log, c.Log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start coordinator: %w", err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := c.httpClient().Get(c.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("coordinator exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("coordinator not ready within 60s")
		}
	}
}

// httpClient is the client of the API calls, made at the first.
func (c *Coordinator) httpClient() *http.Client {
	c.clientOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		c.client = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	})
	return c.client
}

// Kill ends the process with SIGKILL and waits for it.
func (c *Coordinator) Kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// Stop ends the process with SIGTERM and waits for it.
func (c *Coordinator) Stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.Kill()
	}
}

// Pid is the running process's id.
func (c *Coordinator) Pid() int { return c.cmd.Process.Pid }

// RSS is the process's resident memory in bytes, from /proc.
func (c *Coordinator) RSS() (int64, error) { return procRSS(c.Pid()) }

// CPU is the process's user and system time so far, from /proc.
func (c *Coordinator) CPU() (time.Duration, error) { return procCPU(c.Pid()) }

func procRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// procCPU reads utime and stime (fields 14 and 15) of /proc/pid/stat, in
// clock ticks of 1/100 s (USER_HZ on Linux).
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return time.Duration(u+st) * 10 * time.Millisecond, nil
}

// Call sends an API request with the admin key; v, when not nil, receives
// the JSON answer of a 2xx. It returns the status code.
func (c *Coordinator) Call(ctx context.Context, method, path string, body, v any) (int, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL()+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil && resp.StatusCode/100 == 2 && len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}
