package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// squid is a real Squid forward proxy run by a test on a loopback port,
// in a folder of its own.
type squid struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// squidOptions is what a test's Squid does: ask for Basic credentials
// (user and password set), or inspect TLS (bump) with the CA in caCert and
// caKey, trusting the coordinator's CA (upstreamCA); startSquid copies
// these files into Squid's folder.
type squidOptions struct {
	user, password string
	bump           bool
	// stripUpgrade: the inspecting Squid removes websocket upgrades, as
	// Squid does unless told otherwise.
	stripUpgrade  bool
	caCert, caKey string
	upstreamCA    string
}

// needSquid returns the squid binary; without it (or, for bump, without
// its OpenSSL build) the test skips, except in CI, where `make deps`
// installs squid-openssl and the test must run.
func needSquid(t *testing.T, bump bool) string {
	t.Helper()
	bin, err := exec.LookPath("squid")
	why := "squid is not installed: run `make deps` (apt-get install squid-openssl)"
	if err == nil && bump {
		out, _ := exec.Command(bin, "-v").CombinedOutput()
		if !strings.Contains(string(out), "--with-openssl") {
			err, why = fmt.Errorf("no openssl"), "this squid has no TLS inspection (ssl_bump): run `make deps` (apt-get install squid-openssl)"
		}
	}
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run this test: %s", why)
	}
	t.Skip(why)
	return ""
}

// startSquid writes a configuration for o and starts Squid on a free
// loopback port; the test's end stops it and removes its folder.
func startSquid(t *testing.T, o squidOptions) *squid {
	t.Helper()
	s := &squid{t: t, bin: needSquid(t, o.bump), addr: freeAddr(t)}
	// Not under t.TempDir: run as root, Squid and its helpers drop to the
	// proxy account, which must reach the folder.
	dir, err := os.MkdirTemp("", "ferry-squid-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
			access, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Logf("squid output:\n%s\ncache.log:\n%s\naccess.log:\n%s", s.out, log, access)
		}
		os.RemoveAll(dir)
	})
	conf := []string{
		"http_port " + s.addr,
		"pid_filename " + s.path("squid.pid"),
		"cache_log " + s.path("cache.log"),
		"access_log stdio:" + s.path("access.log"),
		"cache_store_log none", "cache deny all", "cache_mem 4 MB", "coredump_dir " + dir,
		"netdb_filename none", "pinger_enable off", "shutdown_lifetime 0 seconds",
	}
	if o.user != "" {
		hash, err := exec.Command("openssl", "passwd", "-apr1", o.password).Output()
		if err != nil {
			t.Fatalf("openssl passwd: %v", err)
		}
		s.write("passwd", o.user+":"+strings.TrimSpace(string(hash))+"\n")
		conf = append(conf, "auth_param basic program /usr/lib/squid/basic_ncsa_auth "+s.path("passwd"),
			"auth_param basic realm ferry-e2e", "acl authed proxy_auth REQUIRED", "http_access allow authed")
	}
	if o.bump {
		db := s.path("ssl_db")
		if out, err := exec.Command("/usr/lib/squid/security_file_certgen", "-c", "-s", db, "-M", "4MB").CombinedOutput(); err != nil {
			t.Fatalf("security_file_certgen -c: %v\n%s", err, out)
		}
		for name, from := range map[string]string{"ca.pem": o.caCert, "ca-key.pem": o.caKey, "upstream-ca.pem": o.upstreamCA} {
			raw, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			s.write(name, string(raw))
		}
		conf[0] += " ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=4MB tls-cert=" + s.path("ca.pem") + " tls-key=" + s.path("ca-key.pem")
		conf = append(conf, "sslcrtd_program /usr/lib/squid/security_file_certgen -s "+db+" -M 4MB", "sslcrtd_children 2 startup=1 idle=1",
			"acl step1 at_step SslBump1", "acl step2 at_step SslBump2",
			"ssl_bump peek step1", "ssl_bump stare step2", "ssl_bump bump all",
			"tls_outgoing_options cafile="+s.path("upstream-ca.pem"),
			"http_access allow all")
		if !o.stripUpgrade {
			conf = append(conf, "http_upgrade_request_protocols OTHER allow all")
		}
	}
	conf = append(conf, "http_access deny all")
	if os.Geteuid() == 0 {
		conf = append(conf, "cache_effective_user proxy")
	}
	s.write("squid.conf", strings.Join(conf, "\n")+"\n")
	s.giveToProxyAccount()
	s.start()
	return s
}

func (s *squid) path(name string) string { return filepath.Join(s.dir, name) }

func (s *squid) write(name, content string) {
	s.t.Helper()
	if err := os.WriteFile(s.path(name), []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// giveToProxyAccount makes the folder the proxy account's when the test
// runs as root (Squid runs its helpers as that account).
func (s *squid) giveToProxyAccount() {
	s.t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("proxy")
	if err != nil {
		s.t.Fatalf("squid drops root for the proxy account: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.Walk(s.dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// start runs Squid in the foreground and waits until it accepts
// connections.
func (s *squid) start() {
	s.t.Helper()
	os.Remove(s.path("squid.pid"))
	s.cmd = exec.Command(s.bin, "-N", "-f", s.path("squid.conf"))
	s.out = &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	waitFor(s.t, 60*time.Second, "squid to accept connections on "+s.addr, func() bool {
		select {
		case <-s.done:
			log, _ := os.ReadFile(s.path("cache.log"))
			s.t.Fatalf("squid exited: %s\n%s", s.out, log)
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// stop kills Squid (as a crash would) and waits for it to exit; its
// helpers end when their input closes.
func (s *squid) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// tunnels counts the CONNECTs to target Squid's access log records with
// the status (such as "TCP_TUNNEL/200"), by user ("-" for none).
func (s *squid) tunnels(target, status, user string) int {
	raw, _ := os.ReadFile(s.path("access.log"))
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		// time elapsed client status/code bytes method URL user hierarchy type
		if len(f) >= 8 && strings.HasPrefix(f[3], status) && f[5] == "CONNECT" && f[6] == target && f[7] == user {
			n++
		}
	}
	return n
}
