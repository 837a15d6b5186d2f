package main

import (
	"bufio"
	"context"
	"errors"
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
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/e2e/sim"
)

// bareBuffer is the bare connection's read and write buffer, in bytes: the
// coordinator's read buffer (its write buffers come from a pool).
const bareBuffer = 1024

// serveBareProcess serves bare websockets and exits when the tool was
// started as the bare server (`TOOL bare`, as measureBare starts it);
// otherwise it returns at once. It writes its address on standard output
// and serves until standard input closes.
func serveBareProcess() {
	if len(os.Args) < 2 || os.Args[1] != "bare" {
		return
	}
	if err := serveBare(); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveBare is the least a coordinator could hold for an idle agent: a
// gorilla websocket with 1 KiB buffers and one goroutine reading it, which
// echoes what it reads. The upgrade's handler returns, as the hub's does.
func serveBare() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	up := websocket.Upgrader{ReadBufferSize: bareBuffer, WriteBufferSize: bareBuffer}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				t, m, err := c.ReadMessage()
				if err != nil || c.WriteMessage(t, m) != nil {
					return
				}
			}
		}()
	})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println(ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

// bare is the bare server's memory: RSS before the connections and with
// them idle, and the difference per connection.
type bare struct {
	Before, Idle int64
	BytesPerConn float64
}

// measureBare starts the bare server, connects n websockets to it, each
// from an agent's source address, says hello on each and reads the echo,
// and returns the server's RSS before the connections, once they are idle,
// and per connection.
func measureBare(ctx context.Context, n int) (bare, error) {
	var b bare
	addr, pid, stop, err := startBare(ctx)
	if err != nil {
		return b, err
	}
	defer stop()
	if b.Before, err = procRSS(pid); err != nil {
		return b, err
	}
	conns := make([]*websocket.Conn, n)
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	hello := []byte(`{"type":"hello","id":"8b0f7c52-3a56-4a43-9f0e-1e1f4b0c6f2d","hello":{"versions":[1],"hostname":"bare","os":"linux","agentVersion":"bare"}}`)
	err = sim.Parallel(ctx, n, 32, func(i int) error {
		d := websocket.Dialer{NetDialContext: sim.DialFrom(sim.SourceAddr(i)), ReadBufferSize: bareBuffer, WriteBufferSize: bareBuffer}
		c, _, err := d.DialContext(ctx, "ws://"+addr, nil)
		if err != nil {
			return err
		}
		mu.Lock()
		conns[i] = c
		mu.Unlock()
		if err := c.WriteMessage(websocket.TextMessage, hello); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _, err = c.ReadMessage()
		return err
	})
	if err != nil {
		return b, fmt.Errorf("bare connections: %w", err)
	}
	// As measureIdle: settle, then read.
	if err := sleep(ctx, 5*time.Second); err != nil {
		return b, err
	}
	if b.Idle, err = procRSS(pid); err != nil {
		return b, err
	}
	if b.Idle <= b.Before {
		return b, errors.New("bare server: RSS did not grow")
	}
	b.BytesPerConn = float64(b.Idle-b.Before) / float64(n)
	return b, nil
}

// startBare starts the bare server (this tool as `TOOL bare`) and returns
// its address, its pid and what stops it.
func startBare(ctx context.Context) (addr string, pid int, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, self, "bare")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop = func() { stdin.Close(); _ = cmd.Wait() }
	addr, err = bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("bare server: %w", err)
	}
	return strings.TrimSpace(addr), cmd.Process.Pid, stop, nil
}

// startRoundTrips starts the bare server and sends it one small message
// over a websocket every pause, reading each echo, until the returned
// function is called, which returns each round trip's time. It is the
// machine's own latency between two processes at that moment: what the
// coordinator's and the agents' scheduling also meet.
func startRoundTrips(ctx context.Context, pause time.Duration) (func() ([]time.Duration, error), error) {
	addr, _, stop, err := startBare(ctx)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{ReadBufferSize: bareBuffer, WriteBufferSize: bareBuffer}
	c, _, err := d.DialContext(ctx, "ws://"+addr, nil)
	if err != nil {
		stop()
		return nil, fmt.Errorf("bare server: %w", err)
	}
	done := make(chan struct{})
	var lat []time.Duration
	var loopErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			start := time.Now()
			if err := c.WriteMessage(websocket.TextMessage, roundTripMessage); err != nil {
				loopErr = err
				return
			}
			if _, _, err := c.ReadMessage(); err != nil {
				loopErr = err
				return
			}
			lat = append(lat, time.Since(start))
			select {
			case <-done:
				return
			case <-ctx.Done():
				loopErr = ctx.Err()
				return
			case <-time.After(pause):
			}
		}
	}()
	return func() ([]time.Duration, error) {
		close(done)
		wg.Wait()
		c.Close()
		stop()
		if loopErr == nil && len(lat) == 0 {
			loopErr = errors.New("no round trip")
		}
		return lat, loopErr
	}, nil
}

// procRSS is a process's resident memory in bytes, from /proc (as
// sim.Coordinator's RSS reads the coordinator's).
func procRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
