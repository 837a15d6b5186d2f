package sim

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// ProxyProtocolFrom are the flags of a coordinator behind StartHAProxy's
// HAProxy: it reads the PROXY header of HAProxy's connections, which come
// from 127.0.0.9 (source), so that callers on 127.0.0.1 (tests, tools)
// still reach it directly.
var ProxyProtocolFrom = []string{"--proxy-protocol-from", "127.0.0.9/32"}

// HAProxyOptions configures an HAProxy in front of coordinator replicas.
type HAProxyOptions struct {
	// Listen is the address clients and agents use; a free loopback port
	// when "".
	Listen string
	// Backends are the replicas' host:port, in the order Status reports
	// them.
	Backends []string
	// CheckInterval is how often each replica's /readyz is checked; two
	// failures in a row take it out of rotation, two successes put it
	// back. 1s when 0. A check may take up to 2s (or the interval, if
	// longer) before it counts as failed.
	CheckInterval time.Duration
	// Log receives HAProxy's output (server state changes, errors).
	Log io.Writer
}

// HAProxy is a running haproxy process (Debian's haproxy package) that
// balances the API and the agents' channels over the replicas. It tells
// them each client's address in a PROXY protocol header (send-proxy-v2):
// start them with ProxyProtocolFrom.
type HAProxy struct {
	// Addr is the host:port it listens on.
	Addr string

	opts HAProxyOptions
	dir  string // config and admin socket
	cmd  *exec.Cmd
	done chan struct{}
}

// haproxyConfig is the configuration StartHAProxy writes; docs/operations.md
// explains each line and shows the same for a deployment.
var haproxyConfig = template.Must(template.New("haproxy.cfg").Parse(`global
    stats socket {{.Socket}} mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option dontlog-normal
    # A request whose replica refuses the connection (stopped, killed) goes
    # to another one.
    option redispatch
    retries 3
    timeout connect 2s
    timeout http-request 10s
    timeout client 60s
    timeout server 60s
    # The agents' channels are websockets: once upgraded, only this applies.
    # Agents heartbeat every few seconds, so a channel is never this idle.
    timeout tunnel 1h
    timeout client-fin 5s
    timeout check {{.CheckTimeout}}

frontend ferry
    bind {{.Listen}}
    default_backend coordinators

backend coordinators
    # Agents' channels last for hours: leastconn spreads them evenly over
    # the replicas (and sends new ones to a replica that just came back),
    # which roundrobin, counting requests rather than open connections,
    # does not.
    balance leastconn
    # Connections to the replicas come from an address of HAProxy's own,
    # the one they trust for PROXY headers (ProxyProtocolFrom).
    source 127.0.0.9
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    # A replica taken out of rotation has its open connections closed, so
    # its agents reconnect to the others at once.
    default-server check inter {{.Check}} fall 2 rise 2 on-marked-down shutdown-sessions send-proxy-v2
{{range $i, $b := .Backends}}    server r{{$i}} {{$b}}
{{end}}`))

// StartHAProxy writes the configuration into a temporary folder, runs
// `haproxy -f CONFIG -db` and waits until it accepts connections and
// answers on its admin socket. Close stops it.
func StartHAProxy(ctx context.Context, o HAProxyOptions) (*HAProxy, error) {
	bin, err := haproxyBinary()
	if err != nil {
		return nil, err
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Listen == "" {
		if o.Listen, err = freeLoopback(); err != nil {
			return nil, err
		}
	}
	// A short folder name: the admin socket's path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "haproxy-")
	if err != nil {
		return nil, err
	}
	h := &HAProxy{Addr: o.Listen, opts: o, dir: dir, done: make(chan struct{})}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := h.writeConfig(cfg); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	h.cmd = exec.Command(bin, "-f", cfg, "-db")
	h.cmd.Stdout, h.cmd.Stderr = o.Log, o.Log
	dieWithParent(h.cmd)
	if err := h.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	if err := h.waitServing(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func haproxyBinary() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("haproxy not found: run `make deps` to install Debian's haproxy package")
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (h *HAProxy) writeConfig(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = haproxyConfig.Execute(f, map[string]any{
		"Socket":   h.socket(),
		"Listen":   h.opts.Listen,
		"Backends": h.opts.Backends,
		"Check":    fmt.Sprintf("%dms", h.opts.CheckInterval.Milliseconds()),
		// A check may take longer than the interval between checks: on a
		// loaded machine /readyz can take more than 200 ms, and two slow
		// answers took a healthy replica out (502s). A stopped replica
		// still fails at once (connection refused).
		"CheckTimeout": fmt.Sprintf("%dms", max(h.opts.CheckInterval, 2*time.Second).Milliseconds()),
	})
	return errors.Join(err, f.Close())
}

func (h *HAProxy) socket() string { return filepath.Join(h.dir, "admin.sock") }

// waitServing waits until the frontend accepts connections and the admin
// socket answers, or haproxy exits (a bad config, a taken port), or 30s
// pass.
func (h *HAProxy) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", h.Addr, time.Second)
		if err == nil {
			c.Close()
			if _, err = h.Status(ctx); err == nil {
				return nil
			}
		}
		select {
		case <-h.done:
			return fmt.Errorf("haproxy exited before serving on %s (see its log)", h.Addr)
		case <-ctx.Done():
			return fmt.Errorf("haproxy not serving on %s: %w (last: %v)", h.Addr, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// URL is the base URL clients and agents use.
func (h *HAProxy) URL() string { return "http://" + h.Addr }

// Status is each backend's state as HAProxy sees it, in the order of
// HAProxyOptions.Backends: "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2"
// (coming back), "MAINT", "NOLB" (draining).
func (h *HAProxy) Status(ctx context.Context) ([]string, error) {
	rows, err := h.command(ctx, "show stat -1 4 -1")
	if err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(rows, "# "))).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("haproxy show stat: %q: %v", rows, err)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	out := make([]string, len(h.opts.Backends))
	for _, r := range recs[1:] {
		var i int
		if _, err := fmt.Sscanf(r[col["svname"]], "r%d", &i); err == nil && i >= 0 && i < len(out) {
			out[i] = r[col["status"]]
		}
	}
	return out, nil
}

// WaitStatus polls Status until cond holds or ctx ends.
func (h *HAProxy) WaitStatus(ctx context.Context, cond func(status []string) bool) ([]string, error) {
	for {
		st, err := h.Status(ctx)
		if err == nil && cond(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("haproxy backends %v: %w (%v)", st, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AllUp says whether every backend is in rotation.
func AllUp(status []string) bool {
	for _, s := range status {
		if s != "UP" {
			return false
		}
	}
	return len(status) > 0
}

// command sends one command to the admin socket and returns the answer.
func (h *HAProxy) command(ctx context.Context, cmd string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", h.socket())
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	var b strings.Builder
	_, err = io.Copy(&b, bufio.NewReader(c))
	return b.String(), err
}

// Close stops haproxy (SIGTERM: at once, as `-db` runs it) and removes
// its folder.
func (h *HAProxy) Close() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	os.RemoveAll(h.dir)
}
