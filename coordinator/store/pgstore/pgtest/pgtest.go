// Package pgtest runs PostgreSQL servers for tests: each its own cluster
// made by initdb in a temporary directory (in memory, /dev/shm, unless
// the cluster is durable), served by the postgres binary of
// Debian's postgresql package on a free loopback port, and stopped when the
// test process ends (also when it dies: the server gets SIGTERM with its
// parent). No container and no shared server. As root, the cluster belongs
// to the postgres user, which PostgreSQL requires.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options shape a server.
type Options struct {
	// Durable keeps fsync on, for benchmarks that measure commits; tests
	// run with fsync off, which only a crash of the machine can tell.
	Durable bool
	// MaxConnections is the server's max_connections (default 200).
	MaxConnections int
}

// Server is one running PostgreSQL cluster.
type Server struct {
	Dir  string
	Port int
	opts Options
	bin  string
	cred *credential // nil: run as the current user
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	dbs  atomic.Int64
}

// User is the superuser of every test cluster; it authenticates by trust
// over loopback only.
const User = "ferry"

// Bin finds the directory of PostgreSQL's server binaries: the newest
// /usr/lib/postgresql/N/bin, or initdb's directory on PATH.
func Bin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("PostgreSQL's server binaries not found (/usr/lib/postgresql/*/bin): run `make deps` to install Debian's postgresql package")
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start makes a cluster in a new temporary directory and starts it.
func Start(opts Options) (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(clusterRoot(opts), "ferry-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, opts: opts, bin: bin, cred: cred}
	if err := s.chown(dir); err != nil {
		s.remove()
		return nil, err
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", User,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	s.asServerUser(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		s.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := s.startOnFreePort(); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// clusterRoot is the folder of a new cluster's directory: for a cluster
// with fsync off, memory (/dev/shm) where the system has it, as nothing
// written is meant to outlive the machine; the system's temporary folder
// otherwise. On disk, a package's hundred databases took some 50 s to
// write back and remove when the tests ended, beside other work.
func clusterRoot(opts Options) string {
	if !opts.Durable {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && fi.Mode().Perm()&0o002 != 0 {
			return "/dev/shm"
		}
	}
	return ""
}

// startOnFreePort starts the server on a free port, trying again when
// another process took the port in between.
func (s *Server) startOnFreePort() error {
	var err error
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		s.Port = port
		if err = s.Start(); err == nil {
			return nil
		}
	}
	return err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the stopped server again on its port and waits until it
// accepts connections (at most 60 s).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("postgres: already running")
	}
	maxConn := s.opts.MaxConnections
	if maxConn == 0 {
		maxConn = 200
	}
	args := []string{"-D", filepath.Join(s.Dir, "data"), "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "max_connections=" + strconv.Itoa(maxConn), "-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning"}
	if !s.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
	log, err := os.OpenFile(filepath.Join(s.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	s.asServerUser(cmd)
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			c.Close(ctx)
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("postgres exited while starting: %s", s.logTail())
		case <-ctx.Done():
			s.stopLocked(true)
			return fmt.Errorf("postgres did not accept connections in 60 s: %v: %s", err, s.logTail())
		case <-time.After(20 * time.Millisecond): // poll the condition
		}
	}
}

// logTail is the end of the server's log, for an error.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop stops the server: a fast shutdown (SIGINT), or with kill an
// immediate one as a crash would (SIGQUIT: no checkpoint, recovery at the
// next start).
func (s *Server) Stop(kill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(kill)
}

func (s *Server) stopLocked(kill bool) {
	if s.cmd == nil {
		return
	}
	sig := os.Interrupt
	if kill {
		sig = sigquit
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.Stop(false)
	s.remove()
}

func (s *Server) remove() { _ = os.RemoveAll(s.Dir) }

// URL is the connection string of database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.Port, db)
}

// CreateDatabase creates a new, empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name, err := s.createDatabase(ctx, "")
	return s.URL(name), err
}

// createDatabase creates a new database, a copy of template ("":
// PostgreSQL's empty template1), and returns its name.
func (s *Server) createDatabase(ctx context.Context, template string) (string, error) {
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	q := "CREATE DATABASE " + name
	if template != "" {
		q += " TEMPLATE " + template
	}
	if _, err := c.Exec(ctx, q); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, nil
}

var shared struct {
	sync.Mutex
	srv *Server
	err error
}

// Shared is the test process's server, started at its first use; Main
// stops it. A test that cannot have it fails with the reason.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = Start(Options{})
	}
	if shared.err != nil {
		t.Fatalf("PostgreSQL for the test: %v", shared.err)
	}
	return shared.srv
}

// NewDatabase is a new, empty database on the shared server: its URL. It
// is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	srv := Shared(t)
	name, err := srv.createDatabase(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.dropDatabase(t, name) })
	return srv.URL(name)
}

// dropDatabase drops a test's database when the test ends, so that the
// server does not keep every test's files until the process ends. The
// test's connections are closed by then (cleanups run last registered
// first); FORCE ends any left. A failure is only logged: the server's
// directory goes when the process ends.
func (s *Server) dropDatabase(t testing.TB, name string) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err == nil {
		_, err = c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
		c.Close(ctx)
	}
	if err != nil {
		t.Logf("drop the test's database %s: %v", name, err)
	}
}

// A Template is a database prepared once on the shared server, of which
// NewDatabase makes copies (CREATE DATABASE ... TEMPLATE): the tests of a
// package that each start from the same schema apply its migrations once,
// not once a test.
type Template struct {
	prepare func(ctx context.Context, url string) error

	once sync.Once
	name string
	err  error
}

// NewTemplate is a template that prepare makes from a new, empty database
// at its first use. prepare must close its connections to the database
// before it returns: PostgreSQL copies no database in use.
func NewTemplate(prepare func(ctx context.Context, url string) error) *Template {
	return &Template{prepare: prepare}
}

// NewDatabase is a new database on the shared server, a copy of the
// template: its URL.
func (tp *Template) NewDatabase(t testing.TB) string {
	t.Helper()
	srv := Shared(t)
	tp.once.Do(func() {
		if tp.name, tp.err = srv.createDatabase(t.Context(), ""); tp.err == nil {
			tp.err = tp.prepare(t.Context(), srv.URL(tp.name))
		}
	})
	if tp.err != nil {
		t.Fatalf("the template database: %v", tp.err)
	}
	name, err := srv.createDatabase(t.Context(), tp.name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.dropDatabase(t, name) })
	return srv.URL(name)
}

// Main runs a package's tests and stops the shared server after them:
// call it from TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	if shared.srv != nil {
		shared.srv.Close()
	}
	shared.Unlock()
	return code
}
