package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a CA made for one test and a server certificate it signed for
// 127.0.0.1, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	roots                     *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Ferry e2e test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{
		caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"),
		keyFile: filepath.Join(dir, "server-key.pem"), roots: x509.NewCertPool(),
	}
	p.roots.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.certFile, "CERTIFICATE", srvDER)
	writePEM(t, p.keyFile, "PRIVATE KEY", keyDER)
	return p
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLS runs the coordinator with a certificate from a private CA: the
// agent links and syncs over https and wss when told to trust the CA, and
// refuses to link without it. It also refuses plain http to a host that is
// not loopback before it sends anything.
func TestTLS(t *testing.T) {
	parallel(t)
	pki := newTestPKI(t)
	c := startCoordinatorTLS(t, t.TempDir(), freeAddr(t), pki.roots, pki.certFile, pki.keyFile)
	company, conn, code := setupConnection(t, c, "csv")
	var cn struct{ LinkURL string }
	if c.do("GET", "/companies/"+company+"/connections/"+conn, nil, &cn); !strings.HasPrefix(cn.LinkURL, "https://") {
		t.Errorf("linkUrl %q of a TLS coordinator is not https", cn.LinkURL)
	}
	config := filepath.Join(t.TempDir(), "agent.json")
	link := []string{"link", "--config", config, "--coordinator", c.url(), "--code", code, "--source", "csv", "--path", sampleCSV}

	out, err := ferryAgent(t, nil, link...)
	if err == nil || !strings.Contains(out, "certificate") {
		t.Errorf("link to a certificate the agent does not trust: err %v, output %q; want a failure naming the certificate", err, out)
	}
	if _, err := os.Stat(config); !os.IsNotExist(err) {
		t.Errorf("a failed link left a config file: %v", err)
	}

	// The code was not used up by the failed attempt.
	linkInto(t, c.url(), config, code, "csv", sampleCSV, "--ca-file", pki.caFile)
	if cfg := readAgentConfig(t, config); cfg.Coordinator != c.url() || cfg.CAFile != pki.caFile || len(cfg.Bindings) != 1 {
		t.Errorf("config after link: %+v", cfg)
	}
	agent := runAgent(t, config)
	waitAllComplete(t, c, company, 90*time.Second)
	for _, dt := range []string{"customers", "invoices", "journalEntries"} {
		compareWithSource(t, c, company, dt)
	}
	if !strings.Contains(agent.out.String(), "connected to the coordinator") {
		t.Errorf("the agent never logged its connection")
	}

	t.Run("plain http to a host that is not loopback", func(t *testing.T) {
		// Any request the agent made would go to this loopback proxy (the
		// agent's HTTP client honours HTTP_PROXY), never to 192.0.2.10.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var hits atomic.Int32
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				hits.Add(1)
				conn.Close()
			}
		}()
		env := os.Environ()
		for _, name := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"} {
			env = withoutEnv(env, name)
		}
		proxy := "http://" + ln.Addr().String()
		env = append(env, "HTTP_PROXY="+proxy, "http_proxy="+proxy, "HTTPS_PROXY="+proxy, "https_proxy="+proxy)

		config := filepath.Join(t.TempDir(), "agent.json")
		out, err := ferryAgent(t, env, "link", "--config", config, "--coordinator", "http://192.0.2.10:8080",
			"--code", "ABCD-2345", "--source", "csv", "--path", sampleCSV)
		if err == nil || !strings.Contains(out, "plain http") || !strings.Contains(out, "--insecure") {
			t.Errorf("link over plain http to 192.0.2.10: err %v, output %q; want a refusal naming plain http and --insecure", err, out)
		}
		// Connections are accepted in order: once the test's own one is in,
		// any the agent made are counted too.
		probe, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		probe.Close()
		waitFor(t, 10*time.Second, "the proxy to accept the probe", func() bool { return hits.Load() > 0 })
		if n := hits.Load() - 1; n != 0 {
			t.Errorf("the agent sent %d connections towards 192.0.2.10 before refusing", n)
		}
		if _, err := os.Stat(config); !os.IsNotExist(err) {
			t.Errorf("a refused link left a config file: %v", err)
		}
	})
}
