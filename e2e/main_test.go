// Package e2e runs Ferry's real binaries: it builds them once, starts them
// on loopback ports and temp directories, and drives them over HTTP.
package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir holds the race builds TestMain makes: ferry-coordinator,
// ferry-agent and demo.
var binDir string

// plainBuild and chaosBuild are built on first use, once for every test
// that needs them, beside binDir: the binaries without the race detector
// (the big book's memory test, with genbook, which writes its book) and
// the chaos tool. The plain binaries are
// built as installer/build.sh builds the agent (no cgo, -trimpath), so the
// installers' tests and they compile the agent's packages once.
var (
	plainBuild = &lazyBuild{name: "plain", flags: []string{"-trimpath"}, env: []string{"CGO_ENABLED=0"},
		pkgs: []string{cmdDir("ferry-coordinator"), cmdDir("ferry-agent"), "./genbook"}}
	chaosBuild = &lazyBuild{name: "chaos", pkgs: []string{"./chaos"}}
)

// TestMain builds the race binaries once for every test. Every test calls
// parallel(t) (a new one must too): they run -parallel (GOMAXPROCS) at a
// time, the longest first, with no one-at-a-time phase before them.
func TestMain(m *testing.M) {
	flag.Parse()
	slots.takeParallelFlag()
	dir, err := os.MkdirTemp("", "ferry-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = filepath.Join(dir, "race")
	plainBuild.dir, chaosBuild.dir = filepath.Join(dir, plainBuild.name), filepath.Join(dir, chaosBuild.name)
	// dpkg and the installers' maintainer scripts need the sbin folders
	// (set here, once: a test that runs in parallel may not t.Setenv).
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:"+os.Getenv("PATH"))
	code := 1
	if err := goBuild(binDir, []string{"-race"}, nil, cmdDir("ferry-coordinator"), cmdDir("ferry-agent"), cmdDir("demo")); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// goBuild builds the main packages pkgs with flags and the environment
// variables env into the folder dir, in one go command, which builds them
// in parallel.
func goBuild(dir string, flags, env []string, pkgs ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", dir+string(filepath.Separator))
	args = append(args, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// lazyBuild is a set of binaries built, without the race detector, into
// dir the first time a test asks for them.
type lazyBuild struct {
	name       string
	flags, env []string
	pkgs       []string
	dir        string

	once sync.Once
	err  error
}

// get builds the binaries unless done and returns their folder; it fails
// the test if the build failed.
func (b *lazyBuild) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() { b.err = goBuild(b.dir, b.flags, b.env, b.pkgs...) })
	if b.err != nil {
		t.Fatalf("build the %s binaries: %v", b.name, b.err)
	}
	return b.dir
}

func cmdDir(cmd string) string {
	switch cmd {
	case "ferry-agent":
		return "../agent/cmd/ferry-agent"
	case "demo":
		return "./demo"
	}
	return "../coordinator/cmd/" + cmd
}

// freeAddr returns a loopback address with a port free at the time of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is an io.Writer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// coordinator is a running ferry-coordinator process.
type coordinator struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	key  string
	out  *syncBuffer
	done chan struct{}
	// client and scheme are set for a coordinator serving TLS; nil and ""
	// mean http.DefaultClient over plain http.
	client *http.Client
	scheme string
	// bin is the folder of the binary to run; binDir (race builds) when "".
	bin string
}

// url is the coordinator's base URL.
func (c *coordinator) url() string {
	if c.scheme == "" {
		return "http://" + c.addr
	}
	return c.scheme + "://" + c.addr
}

func (c *coordinator) httpClient() *http.Client {
	if c.client == nil {
		return http.DefaultClient
	}
	return c.client
}

const e2eKey = "e2e-admin-key-0123456789abcdefghijkl"

// startCoordinator runs the binary on dataDir and waits until /readyz says
// ready.
func startCoordinator(t *testing.T, dataDir, addr string, extra ...string) *coordinator {
	t.Helper()
	return launchCoordinator(t, &coordinator{addr: addr}, dataDir, extra...)
}

// startCoordinatorTLS runs the binary serving HTTPS with the certificate
// and key files; the API and readiness calls trust only the CA pool.
func startCoordinatorTLS(t *testing.T, dataDir, addr string, roots *x509.CertPool, cert, key string, extra ...string) *coordinator {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c := &coordinator{addr: addr, scheme: "https", client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	t.Cleanup(tr.CloseIdleConnections)
	return launchCoordinator(t, c, dataDir, append([]string{"--tls-cert", cert, "--tls-key", key}, extra...)...)
}

// launchCoordinator starts the process for c and waits until /readyz says
// ready.
func launchCoordinator(t *testing.T, c *coordinator, dataDir string, extra ...string) *coordinator {
	t.Helper()
	addr := c.addr
	args := append([]string{"--listen", addr, "--data", dataDir}, extra...)
	bin := c.bin
	if bin == "" {
		bin = binDir
	}
	cmd := exec.Command(filepath.Join(bin, "ferry-coordinator"), args...)
	cmd.Env = append(os.Environ(), "FERRY_ADMIN_KEY="+e2eKey)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.t, c.cmd, c.key, c.out, c.done = t, cmd, e2eKey, out, make(chan struct{})
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("coordinator output:\n%s", out.String())
		}
	})
	waitFor(t, 30*time.Second, "coordinator ready", func() bool {
		resp, err := c.httpClient().Get(c.url() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// kill ends the process with SIGKILL and waits for it.
func (c *coordinator) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// do calls the coordinator's API with its admin key and decodes the JSON
// answer into v when v is not nil.
func (c *coordinator) do(method, path string, body, v any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.url()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if v != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}
